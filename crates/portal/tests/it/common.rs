//! Test workspaces, partner files and an HTTP client for the portal's tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use backbone_portal::{Config, Running, Server, Tokens, Who};

/// The repository's root (fixtures and the example schemas live there).
pub fn repo() -> PathBuf {
    backbone_testkit::crate_dir().join("../..")
}

/// A workspace with `partners` service partners (`p01`…), the example schemas, one
/// partner profile, and `extra` appended to initiative.toml.
pub fn workspace(partners: usize, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    std::fs::create_dir_all(ws.join("data-schemas")).unwrap();
    std::fs::create_dir_all(ws.join("pipelines/profiles")).unwrap();
    for s in ["service_records", "backbone_activity"] {
        std::fs::copy(
            repo().join(format!("data-schemas/{s}.json")),
            ws.join(format!("data-schemas/{s}.json")),
        )
        .unwrap();
    }
    let mut toml = String::from(
        "name = { he = \"שותפות לבדיקה\", en = \"Test partnership\", ar = \"شراكة للاختبار\" }\nlanguages = [\"he\", \"en\", \"ar\"]\nthreshold = 10\n\n",
    );
    let mut ids = Vec::new();
    for i in 1..=partners {
        let id = format!("p{i:02}");
        toml.push_str(&format!(
            "[[partner]]\nid = \"{id}\"\nname = {{ he = \"שותף {i}\", en = \"Partner {i}\" }}\nregion = \"צפון\"\nlanguage = \"{}\"\n\n",
            // The third partner reads Arabic.
            if i == 3 {
                "ar"
            } else if i % 2 == 0 {
                "he"
            } else {
                "en"
            }
        ));
        ids.push(format!("\"{id}\""));
    }
    toml.push_str("[[partner]]\nid = \"backbone\"\nname = { he = \"ארגון השדרה\", en = \"Backbone\" }\nlanguage = \"en\"\n\n");
    toml.push_str(&format!(
        "[[obligation]]\nschema = \"service_records\"\npartners = [{}]\ngrain = \"month\"\nfrom = \"2024-01\"\n\n",
        ids.join(", ")
    ));
    toml.push_str("[[obligation]]\nschema = \"backbone_activity\"\npartners = [\"backbone\"]\ngrain = \"quarter\"\nfrom = \"2024-Q1\"\n\n");
    toml.push_str(extra);
    std::fs::write(ws.join("pipelines/initiative.toml"), toml).unwrap();
    dir
}

/// A partner's monthly file: `good` valid rows then `bad` rows with an age of 130.
pub fn csv(prefix: &str, month: u32, good: usize, bad: usize) -> Vec<u8> {
    let mut s = String::from(
        "record_id,person_id,referral_date,first_contact_date,gender,age,region,service_type,minutes,outcome_improved\n",
    );
    for i in 0..good + bad {
        let age = if i >= good { 130 } else { 20 + (i % 60) };
        s.push_str(&format!(
            "{prefix}-{:04},{},{:02}/{month:02}/2024,{:02}/{month:02}/2024,female,{age},צפון,counseling,45,yes\n",
            i + 1,
            300_000_000 + i,
            1 + i % 27,
            2 + i % 27,
        ));
    }
    s.into_bytes()
}

/// The person id of row `i` of [`csv`] (personal data: it must never leave the file).
pub fn person_id(i: usize) -> String {
    (300_000_000 + i).to_string()
}

/// A running portal on a free loopback port, with tokens for the data manager and every
/// partner.
pub struct Portal {
    pub dir: tempfile::TempDir,
    pub server: Option<Running>,
    pub admin: String,
    pub tokens: BTreeMap<String, String>,
}

impl Portal {
    pub fn start(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let ws = dir.path().to_path_buf();
        let tokens_file = Tokens::of(&ws);
        let admin = tokens_file
            .issue(&Who::Admin, "2026-11-01T00:00:00Z")
            .unwrap();
        let text = std::fs::read_to_string(ws.join("pipelines/initiative.toml")).unwrap();
        let mut tokens = BTreeMap::new();
        for line in text.lines() {
            if let Some(id) = line
                .strip_prefix("id = \"")
                .and_then(|l| l.strip_suffix('"'))
            {
                let t = tokens_file
                    .issue(&Who::Partner(id.to_owned()), "2026-11-01T00:00:00Z")
                    .unwrap();
                tokens.insert(id.to_owned(), t);
            }
        }
        let mut config = Config::new(ws);
        config.addr = "127.0.0.1:0".into();
        tweak(&mut config);
        let server = Server::bind(config).unwrap().spawn().unwrap();
        Self {
            dir,
            server: Some(server),
            admin,
            tokens,
        }
    }

    pub fn ws(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.as_ref().unwrap().url())
    }

    pub fn token(&self, partner: &str) -> &str {
        &self.tokens[partner]
    }

    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.ws().join(".backbone/portal/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn inbox(&self, partner: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.ws().join("inbox").join(partner))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(120)))
            .build(),
    )
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.unwrap();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut body = String::new();
    r.body_mut().as_reader().read_to_string(&mut body).unwrap();
    Answer {
        status: r.status().as_u16(),
        headers,
        body,
    }
}

/// GET with an optional bearer token and cookie.
pub fn get(url: &str, token: Option<&str>, cookie: Option<&str>) -> Answer {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    answer(req.call())
}

/// One part of a multipart body: a name, a file name for files, the bytes.
pub type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

/// A multipart body of these parts, in this order.
pub fn multipart_parts(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "----backbone-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        let disposition = match file_name {
            Some(f) => format!(
                "form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
            ),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A multipart body: text fields, then the file.
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let mut parts: Vec<Part<'_>> = fields
        .iter()
        .map(|(k, v)| (*k, None, v.as_bytes()))
        .collect();
    if let Some((name, bytes)) = file {
        parts.push(("file", Some(name), bytes));
    }
    multipart_parts(&parts)
}

/// POST a multipart form.
pub fn post(
    url: &str,
    token: Option<&str>,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> Answer {
    let (ct, body) = multipart(fields, file);
    let mut req = agent().post(url).header("Content-Type", &ct);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    answer(req.send(&body[..]))
}

/// Upload through the API.
pub fn upload(
    p: &Portal,
    token: &str,
    name: &str,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> Answer {
    post(
        &p.url("/api/submissions"),
        Some(token),
        None,
        fields,
        Some((name, bytes)),
    )
}

/// POST a urlencoded form (sign-in, sign-out).
pub fn post_form(
    url: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    pairs: &[(&str, &str)],
) -> Answer {
    let body: String = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut req = agent()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    answer(req.send(body.as_bytes()))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in with a token; returns the `Cookie` header value.
pub fn sign_in(p: &Portal, token: &str) -> String {
    let a = post_form(
        &p.url("/login"),
        None,
        None,
        &[("token", token), ("lang", "en")],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    let set = &a.headers["set-cookie"];
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    set.split(';').next().unwrap().to_owned()
}

/// The anti-forgery token in a page's form.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}
