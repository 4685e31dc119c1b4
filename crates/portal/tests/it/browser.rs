//! A real browser (headless Chromium through ChromeDriver, Debian's `chromium` and
//! `chromium-driver`) signs in, uploads a partner's file with the plain HTML form and reads
//! its receipt. Skipped when ChromeDriver is missing, unless CI is set
//! (as `.ci/run` does).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|n| std::path::Path::new(n).is_file())
        .map(|n| (*n).to_owned())
}

fn driver() -> Option<Driver> {
    let exe = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let d = Driver {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(mut r) = agent().get(&format!("{}/status", d.base)).call()
            && r.body_mut()
                .read_to_string()
                .is_ok_and(|s| s.contains("\"ready\":true"))
        {
            return Some(d);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let a = agent();
    let mut r = match (method, body) {
        ("GET", _) => a.get(url).call().unwrap(),
        ("DELETE", _) => a.delete(url).call().unwrap(),
        (_, b) => a
            .post(url)
            .header("Content-Type", "application/json")
            .send(b.unwrap_or(json!({})).to_string().as_bytes())
            .unwrap(),
    };
    let text = r.body_mut().read_to_string().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["value"].get("error").is_none(),
        "{method} {url}: {}",
        v["value"]
    );
    v["value"].clone()
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn element(session: &str, css: &str) -> String {
    let v = call(
        "POST",
        &format!("{session}/element"),
        Some(json!({"using": "css selector", "value": css})),
    );
    v[ELEMENT]
        .as_str()
        .unwrap_or_else(|| panic!("{css}: {v}"))
        .to_owned()
}

/// The element once the page that has it is loaded (a click that navigates may return
/// before the next page is there).
fn wait_element(session: &str, css: &str) -> String {
    let start = Instant::now();
    loop {
        let mut r = agent()
            .post(&format!("{session}/element"))
            .header("Content-Type", "application/json")
            .send(
                json!({"using": "css selector", "value": css})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        if let Some(id) = v["value"][ELEMENT].as_str() {
            return id.to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no {css}: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_browser_signs_in_uploads_with_the_form_and_sees_the_receipt() {
    let Some(d) = backbone_testkit::outside_tool(
        "ChromeDriver",
        "the Debian package chromium-driver",
        driver(),
    ) else {
        return;
    };
    let p = Portal::start(workspace(2, ""), |_| {});
    let profile = tempfile::tempdir().unwrap();
    let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]).unwrap_or_default();
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": backbone_testkit::CHROMIUM_FLAGS
                .iter()
                .map(|f| (*f).to_owned())
                .chain([
                    "--window-size=1280,1600".to_owned(),
                    format!("--user-data-dir={}", profile.path().display()),
                ])
                .collect::<Vec<_>>()
        }
    }}});
    let s = call("POST", &format!("{}/session", d.base), Some(caps));
    let session = format!("{}/session/{}", d.base, s["sessionId"].as_str().unwrap());

    // Sign in (p02 reads Hebrew; the page follows the partner's language).
    call(
        "POST",
        &format!("{session}/url"),
        Some(json!({"url": p.url("/")})),
    );
    let title = call("GET", &format!("{session}/title"), None);
    assert!(title.as_str().unwrap().contains("כניסה"), "{title}");
    let token = element(&session, "#token");
    call(
        "POST",
        &format!("{session}/element/{token}/value"),
        Some(json!({"text": p.token("p02")})),
    );
    let button = element(&session, "form[action='/login'] button");
    call("POST", &format!("{session}/element/{button}/click"), None);

    // The upload form: a real file from disk, the period typed in.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("דיווח מרץ.csv");
    std::fs::write(&path, csv("B02", 3, 30, 2)).unwrap();
    let file = wait_element(&session, "#file");
    let html = call("GET", &format!("{session}/source"), None);
    assert!(
        html.as_str().unwrap().contains("dir=\"rtl\""),
        "Hebrew, right to left"
    );
    call(
        "POST",
        &format!("{session}/element/{file}/value"),
        Some(json!({"text": path.display().to_string()})),
    );
    let period = element(&session, "#period");
    call(
        "POST",
        &format!("{session}/element/{period}/value"),
        Some(json!({"text": "2024-03"})),
    );
    let send = element(&session, "form[action='/upload'] button");
    call("POST", &format!("{session}/element/{send}/click"), None);

    // The receipt.
    wait_element(&session, "p.verdict");
    let source = call("GET", &format!("{session}/source"), None);
    let source = source.as_str().unwrap();
    assert!(source.contains("קבלה"), "a receipt: {source}");
    assert!(
        source.contains("דיווח מרץ.csv"),
        "names the file as the partner sent it"
    );
    assert!(
        source.contains("התקבל עם בעיות") || source.contains("accepted"),
        "{source}"
    );
    assert!(
        source.contains(">130<") || source.contains("130"),
        "the bad cell's value"
    );
    let shot = call("GET", &format!("{session}/screenshot"), None);
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-receipt.png");
    std::fs::write(&out, base64_decode(shot.as_str().unwrap())).unwrap();

    // Back to the list: the upload is there, waiting for tonight.
    call(
        "POST",
        &format!("{session}/url"),
        Some(json!({"url": p.url("/")})),
    );
    wait_element(&session, "#file");
    let home = call("GET", &format!("{session}/source"), None);
    assert!(
        home.as_str().unwrap().contains("ממתין להרצה הלילית"),
        "{home}"
    );
    let shot = call("GET", &format!("{session}/screenshot"), None);
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-home.png");
    std::fs::write(&out, base64_decode(shot.as_str().unwrap())).unwrap();
    call("DELETE", &session, None);
    assert_eq!(p.inbox("p02").len(), 1);
    let log = p.audit();
    assert!(
        log.iter()
            .any(|e| e["action"] == "sign_in" && e["who"] == "partner:p02")
    );
    assert!(
        log.iter()
            .any(|e| e["action"] == "upload" && e["route"] == "POST /upload")
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(val(*c)) << (18 - 6 * i))
        });
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}
