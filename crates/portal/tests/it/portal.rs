//! The upload portal end to end: a real HTTP client against the service on loopback.

use std::io::{Read, Write};

use crate::common::*;
use backbone_portal::{Tokens, Who};

const CSP: &str = "default-src 'none'";

#[test]
fn a_partner_uploads_gets_its_receipt_and_the_file_waits_in_the_inbox() {
    let p = Portal::start(workspace(2, ""), |_| {});
    let file = csv("A01", 3, 12, 2);
    let a = upload(&p, p.token("p01"), "מרץ_2024-03.csv", &file, &[]);
    assert_eq!(a.status, 201, "{}", a.body);
    let j = a.json();
    let u = &j["upload"];
    assert_eq!(u["partner"], "p01");
    assert_eq!(u["schema"], "service_records");
    assert_eq!(
        u["period"], "2024-03",
        "the period comes from the file name"
    );
    assert_eq!(u["verdict"], "accepted_with_problems");
    assert_eq!(u["rows"], 14);
    assert_eq!(u["rejected"], 2);
    assert_eq!(u["status"], "queued");
    assert_eq!(u["file_name"], "מרץ_2024-03.csv");
    // The same report as `backbone validate`: the bad cells with their rows.
    let errors = j["report"]["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["rowNumber"] == 14 && e["fieldName"] == "age"),
        "{errors:?}"
    );
    // Queued under a name the portal made, with the period in it for the nightly run.
    let inbox = p.inbox("p01");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0], u["stored_as"].as_str().unwrap());
    assert!(inbox[0].starts_with("service_records_2024-03_") && inbox[0].ends_with(".csv"));
    assert_eq!(
        std::fs::read(p.ws().join("inbox/p01").join(&inbox[0])).unwrap(),
        file,
        "the bytes are kept as sent"
    );
    // The receipt, as a page.
    let r = get(
        &p.url(&format!("/uploads/{}", u["id"].as_str().unwrap())),
        Some(p.token("p01")),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("Receipt") && r.body.contains("age"),
        "{}",
        r.body
    );
    assert!(r.body.contains("tonight"), "says what happens next");
    // Listed as the partner's own.
    let l = get(&p.url("/api/submissions"), Some(p.token("p01")), None).json();
    assert_eq!(l["uploads"].as_array().unwrap().len(), 1);
    assert_eq!(l["uploads"][0]["status_now"], "queued");
}

#[test]
fn the_period_and_table_are_checked_against_what_the_partner_owes() {
    let p = Portal::start(workspace(1, ""), |_| {});
    let file = csv("A01", 3, 3, 0);
    // No period anywhere.
    let a = upload(&p, p.token("p01"), "data.csv", &file, &[]);
    assert_eq!(a.status, 400);
    assert!(
        a.json()["message"].as_str().unwrap().contains("2024-03"),
        "{}",
        a.body
    );
    // A period in the form wins over none in the name; a quarter is not a month.
    let a = upload(
        &p,
        p.token("p01"),
        "data.csv",
        &file,
        &[("period", "2024-Q1")],
    );
    assert_eq!(a.status, 400);
    assert!(a.body.contains("month"), "{}", a.body);
    let a = upload(
        &p,
        p.token("p01"),
        "data.csv",
        &file,
        &[("period", "2023-12")],
    );
    assert_eq!(a.status, 400, "before the obligation starts");
    // A table the partner does not send.
    let a = upload(
        &p,
        p.token("p01"),
        "data.csv",
        &file,
        &[("period", "2024-03"), ("schema", "backbone_activity")],
    );
    assert_eq!(a.status, 400);
    assert!(a.body.contains("does not send"), "{}", a.body);
    let a = upload(
        &p,
        p.token("p01"),
        "data.csv",
        &file,
        &[("period", "2024-03")],
    );
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(p.inbox("p01").len() == 1, "only the good one was queued");
    // A field after the file that is refused: the file's bytes are not kept either.
    let long = "9".repeat(2000);
    let (ct, body) = multipart_parts(&[
        ("file", Some("data_2024-04.csv"), &file),
        ("period", None, long.as_bytes()),
    ]);
    let r = agent()
        .post(&p.url("/api/submissions"))
        .header("Authorization", &format!("Bearer {}", p.token("p01")))
        .header("Content-Type", &ct)
        .send(&body[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        !p.ws().join(".backbone/portal/tmp").exists()
            || std::fs::read_dir(p.ws().join(".backbone/portal/tmp"))
                .unwrap()
                .count()
                == 0,
        "refused uploads leave no bytes behind"
    );
}

#[test]
fn requests_without_a_valid_token_are_refused_everywhere() {
    let p = Portal::start(workspace(1, ""), |_| {});
    let file = csv("A01", 3, 3, 0);
    for (token, why) in [
        (None, "none"),
        (Some("bbt_0000"), "made up"),
        (Some("Bearer"), "garbage"),
    ] {
        let a = post(
            &p.url("/api/submissions"),
            token,
            None,
            &[],
            Some(("x_2024-03.csv", &file)),
        );
        assert_eq!(a.status, 401, "{why}");
        assert_eq!(a.headers["www-authenticate"], "Bearer");
        assert_eq!(a.json()["error"], "bad_token");
        for path in [
            "/api/submissions",
            "/api/completeness",
            "/api/runs",
            "/api/submissions/up-x",
        ] {
            assert_eq!(get(&p.url(path), token, None).status, 401, "{path} {why}");
        }
        for path in [
            "/uploads/up-x",
            "/receipts/x",
            "/quality",
            "/report",
            "/admin",
        ] {
            let a = get(&p.url(path), token, None);
            assert_eq!(a.status, 401, "{path} {why}");
            assert!(a.body.contains("name=\"token\""), "a sign-in form");
        }
    }
    let a = post(
        &p.url("/upload"),
        None,
        Some("bb_session=forged"),
        &[],
        Some(("x_2024-03.csv", &file)),
    );
    assert_eq!(a.status, 401);
    assert!(p.inbox("p01").is_empty());
    // A rotated token stops working at once.
    let old = p.token("p01").to_owned();
    let new = backbone_portal::Tokens::of(p.ws())
        .issue(
            &backbone_portal::Who::Partner("p01".into()),
            "2026-11-02T00:00:00Z",
        )
        .unwrap();
    assert_eq!(
        get(&p.url("/api/submissions"), Some(&old), None).status,
        401
    );
    assert_eq!(
        get(&p.url("/api/submissions"), Some(&new), None).status,
        200
    );
    // Only hashes are kept, readable by the owner alone.
    let stored = std::fs::read_to_string(p.ws().join(".backbone/portal/tokens.json")).unwrap();
    assert!(!stored.contains(&new) && !stored.contains(&old));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.ws().join(".backbone/portal/tokens.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    let log = p.audit();
    let refused = |o: &str| {
        log.iter()
            .filter(|e| e["action"] == "refused" && e["outcome"] == o)
            .count()
    };
    // Per round: the upload and 4 API reads refused for the token, 5 pages for no sign-in.
    assert_eq!(
        refused("bad_token"),
        3 * 5 + 1,
        "every refusal is in the audit log"
    );
    assert_eq!(refused("signed_out"), 3 * 5 + 1);
}

#[test]
fn a_partner_cannot_read_list_or_upload_for_another_on_any_route() {
    let p = Portal::start(workspace(2, "[portal]\nshare_quality = true\n"), |_| {});
    let a = upload(
        &p,
        p.token("p01"),
        "a_2024-03.csv",
        &csv("A01", 3, 5, 1),
        &[],
    )
    .json();
    let id = a["upload"]["id"].as_str().unwrap().to_owned();
    std::fs::create_dir_all(p.ws().join("reports/latest/en/partners")).unwrap();
    std::fs::write(
        p.ws().join("reports/latest/en/partners/p01.html"),
        "<p>p01 quality</p>",
    )
    .unwrap();
    std::fs::write(
        p.ws().join("reports/latest/en/partners/p02.html"),
        "<p>p02 quality</p>",
    )
    .unwrap();
    let b = p.token("p02");
    let cookie_b = sign_in(&p, b);
    // Reading A's upload: as if it did not exist.
    assert_eq!(
        get(&p.url(&format!("/api/submissions/{id}")), Some(b), None).status,
        404
    );
    assert_eq!(
        get(&p.url(&format!("/uploads/{id}")), Some(b), None).status,
        404
    );
    assert_eq!(
        get(&p.url(&format!("/uploads/{id}")), None, Some(&cookie_b)).status,
        404
    );
    assert_eq!(
        get(
            &p.url("/receipts/p01-service_records-2024-03-000000000000"),
            Some(b),
            None
        )
        .status,
        404
    );
    // Naming A: forbidden.
    for path in [
        "/api/submissions?partner=p01".to_owned(),
        format!("/api/submissions/{id}?partner=p01"),
        format!("/uploads/{id}?partner=p01"),
        "/receipts/x?partner=p01".to_owned(),
        "/quality?partner=p01".to_owned(),
    ] {
        assert_eq!(get(&p.url(&path), Some(b), None).status, 403, "{path}");
    }
    // B's own listing and quality page hold nothing of A's.
    let mine = get(&p.url("/api/submissions"), Some(b), None);
    assert_eq!(mine.status, 200);
    assert!(
        !mine.body.contains(&id) && !mine.body.contains("p01"),
        "{}",
        mine.body
    );
    let q = get(&p.url("/quality?lang=en"), Some(b), None);
    assert!(
        q.body.contains("p02 quality") && !q.body.contains("p01"),
        "{}",
        q.body
    );
    let home = get(&p.url("/?lang=en"), None, Some(&cookie_b));
    assert!(
        !home.body.contains(&id),
        "B's home page lists none of A's uploads"
    );
    // Uploading for A.
    let up = upload(
        &p,
        b,
        "b_2024-03.csv",
        &csv("B01", 3, 3, 0),
        &[("partner", "p01")],
    );
    assert_eq!(up.status, 403);
    let html = get(&p.url("/?lang=en"), None, Some(&cookie_b)).body;
    let form = post(
        &p.url("/upload"),
        None,
        Some(&cookie_b),
        &[("csrf", &csrf_of(&html)), ("partner", "p01")],
        Some(("b_2024-03.csv", &csv("B01", 3, 3, 0))),
    );
    assert_eq!(form.status, 403);
    assert_eq!(p.inbox("p01").len(), 1, "nothing landed in A's inbox");
    assert!(p.inbox("p02").is_empty());
    // The data manager's pages.
    for path in ["/admin", "/api/completeness", "/api/runs", "/report"] {
        assert_eq!(get(&p.url(path), Some(b), None).status, 403, "{path}");
    }
    // The data manager sees A's.
    let all = get(&p.url("/api/submissions"), Some(&p.admin), None).json();
    assert!(all.to_string().contains(&id));
    assert_eq!(
        get(
            &p.url(&format!("/uploads/{id}?partner=p01")),
            Some(&p.admin),
            None
        )
        .status,
        200
    );
    assert_eq!(get(&p.url("/admin"), Some(&p.admin), None).status, 200);
}

#[test]
fn the_html_forms_need_the_sessions_anti_forgery_token() {
    let p = Portal::start(workspace(1, ""), |_| {});
    let login = get(&p.url("/?lang=en"), None, None);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("name=\"token\""));
    let bad = post_form(
        &p.url("/login"),
        None,
        None,
        &[("token", "bbt_nope"), ("lang", "en")],
    );
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("not valid"));
    let cookie = sign_in(&p, p.token("p01"));
    let home = get(&p.url("/?lang=en"), None, Some(&cookie));
    assert!(home.body.contains("enctype=\"multipart/form-data\""));
    let csrf = csrf_of(&home.body);
    let file = csv("A01", 4, 4, 0);
    // A forged form: no token, a wrong token, the token after the file, another site.
    let forged: [&[(&str, &str)]; 2] = [&[], &[("csrf", "0123")]];
    for fields in forged {
        let a = post(
            &p.url("/upload"),
            None,
            Some(&cookie),
            fields,
            Some(("x_2024-04.csv", &file)),
        );
        assert_eq!(a.status, 403, "{fields:?}");
        assert!(a.body.contains("expired"));
    }
    let (ct, body) = multipart_parts(&[
        ("file", Some("x_2024-04.csv"), &file),
        ("csrf", None, csrf.as_bytes()),
    ]);
    let late = agent()
        .post(&p.url("/upload"))
        .header("Content-Type", &ct)
        .header("Cookie", &cookie)
        .send(&body[..])
        .unwrap();
    assert_eq!(
        late.status().as_u16(),
        403,
        "the token must come before the file"
    );
    let other_site = agent()
        .post(&p.url("/upload"))
        .header(
            "Content-Type",
            &multipart(&[("csrf", &csrf)], Some(("x_2024-04.csv", &file))).0,
        )
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send(&multipart(&[("csrf", &csrf)], Some(("x_2024-04.csv", &file))).1[..])
        .unwrap();
    assert_eq!(other_site.status().as_u16(), 403);
    assert!(p.inbox("p01").is_empty(), "no forged upload was queued");
    // The real form.
    let ok = post(
        &p.url("/upload"),
        None,
        Some(&cookie),
        &[("csrf", &csrf), ("lang", "en")],
        Some(("x_2024-04.csv", &file)),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.body.contains("Receipt") && ok.body.contains("Back to the uploads"),
        "the receipt, with a way back"
    );
    assert_eq!(p.inbox("p01").len(), 1);
    // Signing out needs the token too, and then the cookie is worthless.
    assert_eq!(
        post_form(&p.url("/logout"), Some(&cookie), None, &[("csrf", "nope")]).status,
        403
    );
    assert_eq!(
        post_form(&p.url("/logout"), Some(&cookie), None, &[("csrf", &csrf)]).status,
        303
    );
    let after = get(&p.url("/quality"), None, Some(&cookie));
    assert_eq!(after.status, 401);
}

#[test]
fn every_answer_carries_the_security_headers() {
    let p = Portal::start(workspace(1, ""), |_| {});
    let t = p.token("p01").to_owned();
    let answers = [
        get(&p.url("/"), None, None),
        get(&p.url("/nowhere"), None, None),
        get(&p.url("/api/submissions"), Some(&t), None),
        get(&p.url("/api/submissions"), None, None),
        upload(&p, &t, "a_2024-03.csv", &csv("A01", 3, 2, 0), &[]),
    ];
    for a in &answers {
        let csp = a.headers.get("content-security-policy").expect("a CSP");
        assert!(
            csp.starts_with(CSP) && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(
            !csp.contains("script-src"),
            "no script is allowed at all (default-src 'none')"
        );
        assert_eq!(a.headers["x-content-type-options"], "nosniff");
        assert_eq!(a.headers["cache-control"], "no-store");
    }
    assert_eq!(answers[1].status, 404);
}

#[test]
fn the_file_type_comes_from_the_content_and_the_name_is_never_used_as_a_path() {
    let p = Portal::start(workspace(1, ""), |_| {});
    let t = p.token("p01").to_owned();
    // A workbook called .csv, and a CSV called .xlsx.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let text = String::from_utf8(csv("A01", 5, 3, 0)).unwrap();
    for (r, line) in text.lines().enumerate() {
        for (c, cell) in line.split(',').enumerate() {
            sheet.write_string(r as u32, c as u16, cell).unwrap();
        }
    }
    let xlsx = book.save_to_buffer().unwrap();
    let a = upload(&p, &t, "report_2024-05.csv", &xlsx, &[]).json();
    assert_eq!(a["upload"]["format"], "xlsx");
    assert!(
        a["upload"]["stored_as"]
            .as_str()
            .unwrap()
            .ends_with(".xlsx")
    );
    assert_eq!(a["upload"]["verdict"], "accepted");
    let a = upload(&p, &t, "report_2024-06.xlsx", &csv("A01", 6, 3, 0), &[]).json();
    assert_eq!(a["upload"]["format"], "csv");
    assert!(a["upload"]["stored_as"].as_str().unwrap().ends_with(".csv"));
    // Path traversal in the name.
    for evil in [
        "../../../../tmp/evil_2024-07.csv",
        "..\\..\\evil_2024-08.csv",
        "/etc/cron.d/evil_2024-09.csv",
    ] {
        let a = upload(&p, &t, evil, &csv("A01", 7, 2, 0), &[]);
        assert_eq!(a.status, 201, "{}", a.body);
        let u = &a.json()["upload"];
        assert!(
            !u["file_name"].as_str().unwrap().contains(['/', '\\']),
            "{u}"
        );
        assert!(
            u["stored_as"]
                .as_str()
                .unwrap()
                .starts_with("service_records_")
        );
    }
    assert_eq!(p.inbox("p01").len(), 5);
    for dir in [
        p.ws().to_path_buf(),
        p.ws().join("inbox"),
        std::path::PathBuf::from("/tmp"),
    ] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with("evil_"), "{} in {}", n, dir.display());
        }
    }
}

#[test]
fn the_same_bytes_twice_are_one_upload_and_a_new_file_for_the_period_says_it_replaces() {
    let p = Portal::start(workspace(1, ""), |_| {});
    let t = p.token("p01").to_owned();
    let file = csv("A01", 3, 5, 0);
    assert_eq!(upload(&p, &t, "a_2024-03.csv", &file, &[]).status, 201);
    let again = upload(&p, &t, "copy_2024-03.csv", &file, &[]);
    assert_eq!(again.status, 200);
    let j = again.json();
    assert_eq!(j["upload"]["status"], "duplicate");
    assert!(
        j["upload"]["duplicate_of"]
            .as_str()
            .unwrap()
            .starts_with("up-")
    );
    assert_eq!(p.inbox("p01").len(), 1);
    let fixed = upload(
        &p,
        &t,
        "fixed_2024-03.csv",
        &csv("A01", 3, 6, 0),
        &[("lang", "en")],
    );
    assert_eq!(fixed.status, 201);
    let receipt = get(
        &p.url(&format!(
            "/uploads/{}",
            fixed.json()["upload"]["id"].as_str().unwrap()
        )),
        Some(&t),
        None,
    );
    assert!(
        receipt.body.contains("replaces the file you uploaded at"),
        "{}",
        receipt.body
    );
    let inbox = p.inbox("p01");
    assert_eq!(inbox.len(), 2);
    assert!(
        inbox[0] < inbox[1],
        "the correction sorts after the first, so the nightly run stores it last"
    );
}

#[test]
fn too_large_uploads_are_answered_with_a_clear_error() {
    let p = Portal::start(workspace(1, ""), |c| c.max_upload_bytes = Some(1 << 20));
    let t = p.token("p01").to_owned();
    let big = vec![b'x'; 3 << 20];
    // Content-Length says so: refused before the body is read (curl's Expect: 100-continue).
    let (ct, body) = multipart(&[], Some(("big_2024-03.csv", &big)));
    let addr = p.url("").trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /api/submissions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("larger than the limit of 1 MB"), "{reply}");
    // The same with the body sent at once.
    let a = upload(&p, &t, "big_2024-03.csv", &big, &[]);
    assert_eq!(a.status, 413);
    // And with no length at all (chunked): counted as it comes.
    let (ct, body) = multipart(&[], Some(("big_2024-03.csv", &big)));
    let r = agent()
        .post(&p.url("/api/submissions"))
        .header("Authorization", &format!("Bearer {t}"))
        .header("Content-Type", &ct)
        .send(ureq::SendBody::from_reader(&mut &body[..]))
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert!(p.inbox("p01").is_empty());
    let too_large = p
        .audit()
        .iter()
        .filter(|e| e["outcome"] == "too_large")
        .count();
    assert_eq!(too_large, 3);
    // The service is still there.
    assert_eq!(
        upload(&p, &t, "ok_2024-03.csv", &csv("A01", 3, 3, 0), &[]).status,
        201
    );
}

#[test]
fn uploads_per_partner_per_hour_are_capped() {
    let p = Portal::start(workspace(2, ""), |c| c.uploads_per_hour = Some(3));
    for m in 1..=3 {
        let a = upload(
            &p,
            p.token("p01"),
            &format!("a_2024-0{m}.csv"),
            &csv("A01", m, 2, 0),
            &[],
        );
        assert_eq!(a.status, 201);
    }
    let a = upload(
        &p,
        p.token("p01"),
        "a_2024-04.csv",
        &csv("A01", 4, 2, 0),
        &[],
    );
    assert_eq!(a.status, 429);
    assert!(a.headers["retry-after"].parse::<u64>().unwrap() > 3000);
    assert!(a.json()["message"].as_str().unwrap().contains("3 allowed"));
    // Another partner is not held back; the data manager is not counted.
    assert_eq!(
        upload(
            &p,
            p.token("p02"),
            "b_2024-01.csv",
            &csv("B01", 1, 2, 0),
            &[]
        )
        .status,
        201
    );
    assert_eq!(
        upload(
            &p,
            &p.admin.clone(),
            "a_2024-05.csv",
            &csv("A01", 5, 2, 0),
            &[("partner", "p01")]
        )
        .status,
        201
    );
    assert_eq!(p.inbox("p01").len(), 4);
    // The data manager must say for whom: not saying is a bad request, naming nobody a 404.
    let admin = p.admin.clone();
    let none = upload(&p, &admin, "a_2024-06.csv", &csv("A01", 6, 2, 0), &[]);
    assert_eq!(none.status, 400, "{}", none.body);
    assert_eq!(none.json()["error"], "no_partner");
    assert!(
        none.body.contains("the form field `partner`"),
        "{}",
        none.body
    );
    let nobody = upload(
        &p,
        &admin,
        "a_2024-06.csv",
        &csv("A01", 6, 2, 0),
        &[("partner", "p99")],
    );
    assert_eq!(nobody.status, 404, "{}", nobody.body);
    assert!(nobody.body.contains("no partner `p99`"), "{}", nobody.body);
}

#[test]
fn the_audit_log_names_every_upload_and_refusal_and_no_personal_data() {
    let p = Portal::start(workspace(2, ""), |_| {});
    let file = csv("A01", 3, 5, 1);
    let ok = upload(&p, p.token("p01"), "שמות_2024-03.csv", &file, &[]).json();
    upload(&p, p.token("p02"), "x.csv", &file, &[]); // no period: refused
    get(
        &p.url("/api/submissions?partner=p01"),
        Some(p.token("p02")),
        None,
    ); // forbidden
    get(&p.url("/api/submissions"), Some("bbt_wrong"), None);
    let log = p.audit();
    let up = log.iter().find(|e| e["action"] == "upload").unwrap();
    assert_eq!(up["who"], "partner:p01");
    assert_eq!(up["outcome"], "queued");
    assert_eq!(up["sha256"], ok["upload"]["sha256"]);
    assert_eq!(up["bytes"], file.len());
    assert_eq!(up["upload"], ok["upload"]["id"]);
    assert!(up["time"].as_str().unwrap().ends_with('Z'));
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|e| e["action"] == "refused")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    for o in ["bad_target", "other_partner", "bad_token"] {
        assert!(outcomes.contains(&o), "{o} in {outcomes:?}");
    }
    let text = std::fs::read_to_string(p.ws().join(".backbone/portal/audit.jsonl")).unwrap();
    for i in 0..6 {
        assert!(
            !text.contains(&person_id(i)),
            "a person's id in the audit log"
        );
    }
    assert!(
        !text.contains("שמות"),
        "file names can name people: not in the audit log"
    );
}

/// Rotating a partner's token ends the browser sessions it opened at once: the old session
/// can neither read nor upload (issue 18, finding 6). Another partner's session goes on.
#[test]
fn a_rotated_token_ends_its_browser_sessions_at_once() {
    let p = Portal::start(workspace(2, ""), |_| {});
    let cookie = sign_in(&p, p.token("p01"));
    let other = sign_in(&p, p.token("p02"));
    let home = get(&p.url("/?lang=en"), None, Some(&cookie));
    assert!(
        home.body.contains("enctype=\"multipart/form-data\""),
        "{}",
        home.body
    );
    let csrf = csrf_of(&home.body);

    Tokens::of(p.ws())
        .issue(&Who::Partner("p01".into()), "2026-11-02T00:00:00Z")
        .unwrap();

    let home = get(&p.url("/?lang=en"), None, Some(&cookie));
    assert!(
        !home.body.contains("enctype=\"multipart/form-data\"") && home.body.contains("token"),
        "the old session still sees the upload form: {}",
        home.body
    );
    let quality = get(&p.url("/quality?lang=en"), None, Some(&cookie));
    assert_ne!(quality.status, 200, "{}", quality.body);
    let upload = post(
        &p.url("/upload"),
        None,
        Some(&cookie),
        &[("csrf", &csrf)],
        Some(("x_2024-04.csv", &csv("A01", 4, 4, 0))),
    );
    assert_ne!(upload.status, 201, "{}", upload.body);
    assert!(upload.status >= 400, "{} {}", upload.status, upload.body);
    assert!(p.inbox("p01").is_empty(), "an upload went through");
    // p02's token was not touched: its session goes on.
    let home = get(&p.url("/?lang=en"), None, Some(&other));
    assert!(
        home.body.contains("enctype=\"multipart/form-data\""),
        "{}",
        home.body
    );
}

/// The data manager applies a file held for a closed period from `/admin`: a button per held
/// file, posted with the session's anti-forgery token, calling the portal's approver once;
/// a partner, a forged post and a post without the token are refused and approve nothing.
#[test]
fn a_held_file_is_applied_with_the_button_on_the_admin_page() {
    let dir = workspace(2, "");
    let held_dir = dir.path().join(".backbone/held");
    std::fs::create_dir_all(&held_dir).unwrap();
    std::fs::write(
        held_dir.join("p01-q2.json"),
        r#"{"id":"p01-q2","partner":"p01","schema":"services","period":"2024-06","file_name":"p01_2024-06.csv","received":"2026-11-02T10:00:00Z","sha256":"00"}"#,
    )
    .unwrap();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = calls.clone();
    let held_file = held_dir.join("p01-q2.json");
    let p = Portal::start(dir, move |c| {
        c.on_approve = Some(std::sync::Arc::new(move |id: &str| {
            seen.lock().unwrap().push(id.to_owned());
            std::fs::remove_file(&held_file).map_err(|e| e.to_string())?;
            Ok("3 rows stored; the results were computed again".to_owned())
        }));
    });
    let origin = p.url("");
    let origin = origin.trim_end_matches('/');

    // A partner's session sees no admin page and cannot post the form.
    let partner = sign_in(&p, p.token("p01"));
    let home = get(&p.url("/"), None, Some(&partner));
    let partner_csrf = csrf_of(&home.body);
    let refused = post_form(
        &p.url("/admin/approve"),
        Some(&partner),
        Some(origin),
        &[("csrf", &partner_csrf), ("id", "p01-q2")],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);

    let admin = sign_in(&p, &p.admin.clone());
    let page = get(&p.url("/admin?lang=en"), None, Some(&admin));
    assert_eq!(page.status, 200);
    let row = &page.body[page.body.find("p01-q2").expect("the held file is listed")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(r#"action="/admin/approve""#)
            && row.contains(r#"name="id" value="p01-q2""#)
            && row.contains(r#"name="lang" value="en""#)
            && row.contains(">Apply</button>"),
        "{row}"
    );
    let csrf = csrf_of(&page.body);

    // Without the token, or from another site: refused.
    let forged = post_form(
        &p.url("/admin/approve"),
        Some(&admin),
        Some(origin),
        &[("csrf", "not-the-token"), ("id", "p01-q2")],
    );
    assert_eq!(forged.status, 403);
    let cross = post_form(
        &p.url("/admin/approve"),
        Some(&admin),
        Some("https://elsewhere.example"),
        &[("csrf", &csrf), ("id", "p01-q2")],
    );
    assert_eq!(cross.status, 403);
    assert!(calls.lock().unwrap().is_empty(), "nothing approved yet");

    let done = post_form(
        &p.url("/admin/approve"),
        Some(&admin),
        Some(origin),
        &[("csrf", &csrf), ("id", "p01-q2"), ("lang", "en")],
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("Applied p01-q2: 3 rows stored"),
        "{}",
        done.body
    );
    assert_eq!(*calls.lock().unwrap(), vec!["p01-q2".to_owned()]);
    // Applied once: the list is empty, and the approver's refusal of a second is shown.
    let page = get(&p.url("/admin"), None, Some(&admin));
    assert!(!page.body.contains("p01-q2"), "{}", page.body);
    let again = post_form(
        &p.url("/admin/approve"),
        Some(&admin),
        Some(origin),
        &[("csrf", &csrf), ("id", "p01-q2")],
    );
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        p.audit()
            .iter()
            .any(|e| e["action"] == "approve" && e["upload"] == "p01-q2"),
        "the approval is in the audit log"
    );
}

#[test]
fn the_portal_and_its_receipts_speak_arabic_right_to_left() {
    let p = Portal::start(workspace(3, ""), |_| {});
    let login = get(&p.url("/?lang=ar"), None, None);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("lang=\"ar\"") && login.body.contains("dir=\"rtl\""));
    assert!(login.body.contains("تسجيل الدخول"), "{}", login.body);
    assert!(
        login.body.contains("شراكة للاختبار"),
        "the initiative's Arabic name"
    );
    // The other languages are offered by their own names.
    assert!(login.body.contains("?lang=he") && login.body.contains("עברית"));
    assert!(login.body.contains("?lang=en") && login.body.contains("English"));
    // p03 reads Arabic: its pages are in Arabic without asking.
    let cookie = sign_in(&p, p.token("p03"));
    let home = get(&p.url("/"), None, Some(&cookie));
    assert!(
        home.body.contains("dir=\"rtl\"") && home.body.contains("رفع ملف"),
        "{}",
        home.body
    );
    let file = csv("A01", 3, 6, 1);
    let a = upload(&p, p.token("p03"), "x_2024-03.csv", &file, &[]);
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["upload"]["id"].as_str().unwrap().to_owned();
    let r = get(
        &p.url(&format!("/uploads/{id}")),
        Some(p.token("p03")),
        None,
    );
    assert_eq!(r.status, 200);
    // The receipt: its verdict, the problem's title and what a valid value looks like.
    assert!(r.body.contains("مقبول مع مشكلات"), "{}", r.body);
    assert!(r.body.contains("ما يجب تصحيحه") && r.body.contains("قيمة صحيحة"));
    assert!(!r.body.contains("A valid value"));
}
