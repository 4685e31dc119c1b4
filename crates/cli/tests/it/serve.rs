//! End to end: `backbone partner token`, `backbone serve`, a partner's upload over HTTP, and
//! the nightly run that stores it; replacement; ingest at once.

use crate::common::{backbone_at, example_workspace, root, text};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLOCK: &str = "2024-02-08T22:00:00Z";

fn token(ws: &Path, args: &[&str]) -> String {
    let o = backbone_at(ws, &[&["partner", "token"], args].concat(), CLOCK);
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    assert!(t.starts_with("bbt_") && t.len() > 60, "{t}");
    t
}

struct Serving {
    child: Child,
    url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(ws: &Path) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["serve", "--addr", "127.0.0.1:0", "--workspace"])
        .arg(ws)
        .env("BACKBONE_CLOCK", CLOCK)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    // Keep reading what it prints, as a supervisor would.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    Serving { child, url }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}

fn upload(url: &str, token: &str, name: &str, bytes: &[u8]) -> (u16, serde_json::Value) {
    let b = "----bb-cli-test";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    let mut r = agent()
        .post(&format!("{url}/api/submissions"))
        .header("Authorization", &format!("Bearer {token}"))
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={b}"),
        )
        .send(&body[..])
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

fn get(url: &str, token: &str) -> (u16, String) {
    let mut r = agent()
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn listing(url: &str, token: &str) -> serde_json::Value {
    let (s, body) = get(&format!("{url}/api/submissions"), token);
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn tokens_are_made_for_partners_only_and_printed_once() {
    let ws = example_workspace();
    let o = backbone_at(ws.path(), &["partner", "token", "nobody"], CLOCK);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("`nobody` is not a partner"),
        "{}",
        text(&o)
    );
    let first = token(ws.path(), &["clinic"]);
    let second = token(ws.path(), &["clinic"]);
    assert_ne!(first, second);
    let o = backbone_at(ws.path(), &["partner", "token", "clinic"], CLOCK);
    assert!(text(&o).contains("the previous one no longer works"));
    let file = std::fs::read_to_string(ws.path().join(".backbone/portal/tokens.json")).unwrap();
    assert!(!file.contains(&first) && !file.contains(&second));
}

#[test]
fn an_upload_waits_for_the_nightly_run_then_shows_as_stored_and_a_correction_replaces_it() {
    let ws = example_workspace();
    let ws = ws.path();
    let clinic = token(ws, &["clinic"]);
    let welfare = token(ws, &["welfare"]);
    let server = serve(ws);
    let fixture =
        std::fs::read(root().join("tests/fixtures/files/clinic_windows1255.csv")).unwrap();
    let (status, j) = upload(&server.url, &clinic, "clinic_2024-01.csv", &fixture);
    assert_eq!(status, 201, "{j}");
    assert_eq!(j["upload"]["status"], "queued");
    assert_eq!(j["report"]["source"]["encoding"], "windows-1255");

    let o = backbone_at(ws, &["run"], CLOCK);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("with problems 1"), "{}", text(&o));
    let l = listing(&server.url, &clinic);
    assert_eq!(l["uploads"][0]["status_now"], "stored");
    let first = l["submissions"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(l["uploads"][0]["submission"], first.as_str());
    assert_eq!(l["submissions"][0]["current"], true);
    // The data manager's page: the completeness grid of the run, in words.
    let admin = token(ws, &["--admin"]);
    let (s, page) = get(&format!("{}/admin?lang=en", server.url), &admin);
    assert_eq!(s, 200);
    assert!(
        page.contains("<td class=\"on_time\">on time</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td class=\"not_due\">not due yet</td>"),
        "the partners whose January is not due until the 15th"
    );
    assert_eq!(get(&format!("{}/admin", server.url), &welfare).0, 403);
    // The nightly receipt, for the partner and no one else.
    assert_eq!(
        get(&format!("{}/receipts/{first}", server.url), &clinic).0,
        200
    );
    assert_eq!(
        get(&format!("{}/receipts/{first}", server.url), &welfare).0,
        404
    );
    assert!(!listing(&server.url, &welfare).to_string().contains(&first));

    // A corrected file for the same month.
    let fixed: Vec<u8> = {
        let mut v = fixture.clone();
        v.extend_from_slice(b"C01-0999,412345678,10/01/2024,11/01/2024,,30,,,10,\r\n");
        v
    };
    let (status, j) = upload(&server.url, &clinic, "clinic_2024-01_fixed.csv", &fixed);
    assert_eq!(status, 201, "{j}");
    assert_eq!(
        j["upload"]["replaces"],
        first.as_str(),
        "says what it will replace"
    );
    let o = backbone_at(ws, &["run"], "2024-02-09T22:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let l = listing(&server.url, &clinic);
    let subs = l["submissions"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    let old = subs.iter().find(|s| s["id"] == first.as_str()).unwrap();
    let new = subs.iter().find(|s| s["id"] != first.as_str()).unwrap();
    assert_eq!(old["current"], false);
    assert_eq!(new["current"], true);
    assert_eq!(new["supersedes"], first.as_str());
}

#[test]
fn with_ingest_at_once_an_upload_is_stored_without_waiting_for_the_night() {
    let ws = example_workspace();
    let ws = ws.path();
    let init = ws.join("pipelines/initiative.toml");
    let mut toml = std::fs::read_to_string(&init).unwrap();
    toml = toml.replace("ingest_at_once = false", "ingest_at_once = true");
    assert!(toml.contains("ingest_at_once = true"));
    std::fs::write(&init, toml).unwrap();
    let clinic = token(ws, &["clinic"]);
    let server = serve(ws);
    let fixture =
        std::fs::read(root().join("tests/fixtures/files/clinic_windows1255.csv")).unwrap();
    let (status, j) = upload(&server.url, &clinic, "clinic_2024-01.csv", &fixture);
    assert_eq!(status, 201, "{j}");
    assert_eq!(j["upload"]["status"], "ingesting");
    let start = Instant::now();
    // The upload shows as stored once its commit lands; the run then computes the
    // indicators, which may take a moment longer on a loaded machine.
    loop {
        let l = listing(&server.url, &clinic);
        if l["uploads"][0]["status_now"] == "stored" && ws.join("results/indicators.csv").is_file()
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not stored, or the run did not compute the indicators: {l}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The one placement rule: `backbone ingest`, `backbone run` and the portal refuse a period
/// outside the obligation's window alike, in the same words (legal aid reads English).
#[test]
fn ingest_run_and_the_portal_refuse_a_period_outside_the_obligation_in_the_same_words() {
    let ws = example_workspace();
    let p = ws.path();
    let said = "legal_aid reports `service_records` from 2024-01; 2023-12 is outside";
    let file = root().join("tests/fixtures/files/clinic_windows1255.csv");
    let bytes = std::fs::read(&file).unwrap();

    let o = backbone_at(
        p,
        &[
            "ingest",
            file.to_str().unwrap(),
            "--partner",
            "legal_aid",
            "--schema",
            "service_records",
            "--period",
            "2023-12",
        ],
        CLOCK,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(said),
        "{}",
        text(&o)
    );

    let inbox = p.join("inbox/legal_aid");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("legal_aid_2023-12.csv"), &bytes).unwrap();
    let o = backbone_at(p, &["run"], CLOCK);
    assert!(o.status.success(), "{}", text(&o));
    let summary = std::fs::read_to_string(p.join("runs/latest.txt")).unwrap();
    assert!(
        summary.contains(&format!(
            "✗ legal_aid/legal_aid_2023-12.csv: waiting — {said}"
        )),
        "{summary}"
    );
    assert!(
        inbox.join("legal_aid_2023-12.csv").exists(),
        "the refused file stays"
    );

    let token = token(p, &["legal_aid"]);
    let server = serve(p);
    let (status, body) = upload(&server.url, &token, "legal_aid_2023-12.csv", &bytes);
    assert!((400..500).contains(&status), "{status} {body}");
    assert_eq!(body["message"].as_str(), Some(said), "{body}");
}

/// A file uploaded for a closed period is held by the night; the data manager sees it on the
/// admin page and in `/api/held`, and applies it through the portal; a partner cannot.
#[test]
fn a_held_upload_is_listed_and_approved_through_the_portal() {
    let ws = example_workspace();
    let ws = ws.path();
    let o = backbone_at(ws, &["close", "2024-01"], CLOCK);
    assert!(o.status.success(), "{}", text(&o));
    let clinic = token(ws, &["clinic"]);
    let admin = token(ws, &["--admin"]);
    let server = serve(ws);
    let fixture =
        std::fs::read(root().join("tests/fixtures/files/clinic_windows1255.csv")).unwrap();
    let (status, j) = upload(&server.url, &clinic, "clinic_2024-01.csv", &fixture);
    assert_eq!(status, 201, "{j}");
    let o = backbone_at(ws, &["run"], CLOCK);
    assert!(text(&o).contains("held for approval 1"), "{}", text(&o));

    let (s, body) = get(&format!("{}/api/held", server.url), &admin);
    assert_eq!(s, 200, "{body}");
    let held: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = held[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("clinic-service_records-2024-01-"), "{body}");
    let (s, page) = get(&format!("{}/admin?lang=en", server.url), &admin);
    assert_eq!(s, 200);
    assert!(
        page.contains("Held for approval") && page.contains(&id),
        "{page}"
    );
    assert_eq!(get(&format!("{}/api/held", server.url), &clinic).0, 403);

    let approve = |token: &str| {
        let mut r = agent()
            .post(&format!("{}/api/held/{id}/approve", server.url))
            .header("Authorization", &format!("Bearer {token}"))
            .send(&b""[..])
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(approve(&clinic).0, 403, "a partner cannot approve");
    let (s, body) = approve(&admin);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("applied"), "{body}");
    let l = listing(&server.url, &clinic);
    assert_eq!(l["submissions"][0]["id"], id.as_str(), "{l}");
    // Approving twice: nothing held any more.
    let (s, body) = approve(&admin);
    assert_eq!(s, 409, "{body}");
}
