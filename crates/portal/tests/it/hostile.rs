//! Hostile files and many partners at once: every upload is answered and accounted for,
//! and the service stays up for everyone else.

use std::io::Write;

use crate::common::*;

/// A file of `tests/fixtures/hostile/`.
fn hostile_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        backbone_testkit::root()
            .join("tests/fixtures/hostile")
            .join(name),
    )
    .unwrap()
}

/// An .xlsx whose sheet unpacks to 400 MB of nothing from a few hundred KB.
fn zip_bomb() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    z.start_file("[Content_Types].xml", opts).unwrap();
    z.write_all(b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>").unwrap();
    z.start_file("xl/workbook.xml", opts).unwrap();
    z.write_all(b"<?xml version=\"1.0\"?><workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheets><sheet name=\"s\" sheetId=\"1\"/></sheets></workbook>").unwrap();
    z.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..400 {
        z.write_all(&zeros).unwrap();
    }
    z.finish().unwrap();
    buf.into_inner()
}

/// A real workbook that claims the whole sheet (A1:XFD1048576) and holds a header and the
/// far corner.
fn enormous_sheet() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in [
        "record_id",
        "person_id",
        "referral_date",
        "region",
        "service_type",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_string(1_048_575, 16_383, "corner").unwrap();
    book.save_to_buffer().unwrap()
}

fn garbage(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A CSV with a million columns.
fn wide_csv() -> Vec<u8> {
    let mut s = String::with_capacity(10 << 20);
    for i in 0..1_000_000 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("c{i}"));
    }
    s.push('\n');
    s.push_str(&"1,".repeat(999_999));
    s.push_str("1\n");
    s.into_bytes()
}

#[test]
fn hostile_files_get_an_answer_and_other_partners_keep_uploading() {
    let p = Portal::start(workspace(3, ""), |c| c.checkers = 2);
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("bomb_2024-03.xlsx", zip_bomb()),
        ("huge_2024-04.xlsx", enormous_sheet()),
        ("noise_2024-05.csv", garbage(1 << 20)),
        ("wide_2024-06.csv", wide_csv()),
        // Issue 18, finding 1: 796 bytes that would expand to 100 million cells, and the other
        // spreadsheets built to exhaust the reader.
        ("repeated_2024-07.ods", hostile_fixture("repeated.ods")),
        (
            "strings_2024-08.xlsx",
            hostile_fixture("declared_strings.xlsx"),
        ),
        ("deep_2024-09.ods", hostile_fixture("deep.ods")),
        ("far_2024-10.xls", hostile_fixture("far.xls")),
    ];
    std::thread::scope(|s| {
        let attacker = s.spawn(|| {
            hostile
                .iter()
                .map(|(name, bytes)| {
                    let a = upload(&p, p.token("p01"), name, bytes, &[]);
                    (name.to_string(), a)
                })
                .collect::<Vec<_>>()
        });
        // Meanwhile, two other partners upload ordinary files.
        let others: Vec<_> = ["p02", "p03"]
            .into_iter()
            .map(|who| {
                let p = &p;
                s.spawn(move || {
                    (1..=4)
                        .map(|m| {
                            upload(
                                p,
                                p.token(who),
                                &format!("ok_2024-0{m}.csv"),
                                &csv("B01", m, 20, 1),
                                &[],
                            )
                            .status
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for o in others {
            assert_eq!(
                o.join().unwrap(),
                vec![201; 4],
                "other partners' uploads kept working"
            );
        }
        for (name, a) in attacker.join().unwrap() {
            assert!(
                matches!(a.status, 201 | 422),
                "{name}: {} {}",
                a.status,
                &a.body[..a.body.len().min(300)]
            );
            let j = a.json();
            let id = j["upload"]["id"].as_str().unwrap();
            let receipt = get(
                &p.url(&format!("/uploads/{id}")),
                Some(p.token("p01")),
                None,
            );
            assert_eq!(receipt.status, 200, "{name} has a receipt");
            if a.status == 422 {
                assert_eq!(j["upload"]["status"], "unreadable");
                assert!(receipt.body.contains("fix it"), "{name}: {}", receipt.body);
            }
        }
    });
    // The bomb and the noise were not queued, and their bytes were kept aside.
    let unreadable = std::fs::read_dir(p.ws().join(".backbone/portal/unreadable/p01"))
        .unwrap()
        .count();
    assert!(unreadable >= 6, "{unreadable}");
    assert_eq!(p.inbox("p02").len(), 4);
    assert_eq!(
        upload(
            &p,
            p.token("p01"),
            "ok_2024-07.csv",
            &csv("A01", 7, 3, 0),
            &[]
        )
        .status,
        201,
        "still up"
    );
}

#[test]
fn twenty_partners_at_once_two_hundred_uploads_every_one_answered_and_accounted_for() {
    let p = Portal::start(workspace(20, ""), |c| c.uploads_per_hour = Some(100));
    let partners: Vec<String> = (1..=20).map(|i| format!("p{i:02}")).collect();
    let statuses: Vec<Vec<(u16, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = partners
            .iter()
            .enumerate()
            .map(|(n, who)| {
                let p = &p;
                s.spawn(move || {
                    (0..10u32)
                        .map(|k| {
                            // Each file differs (its row count), months 1–10.
                            let bytes = csv(&format!("P{n:02}"), k + 1, 5 + k as usize + n, 1);
                            let a = upload(
                                p,
                                p.token(who),
                                &format!("f_2024-{:02}.csv", k + 1),
                                &bytes,
                                &[],
                            );
                            let id = if a.status == 201 {
                                a.json()["upload"]["id"].as_str().unwrap().to_owned()
                            } else {
                                String::new()
                            };
                            (a.status, id)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<&(u16, String)> = statuses.iter().flatten().collect();
    assert_eq!(all.len(), 200);
    assert!(
        all.iter().all(|(s, _)| *s == 201),
        "{:?}",
        all.iter().filter(|(s, _)| *s != 201).collect::<Vec<_>>()
    );
    let ids: std::collections::BTreeSet<&String> = all.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), 200, "every upload its own id");
    for who in &partners {
        assert_eq!(p.inbox(who).len(), 10, "{who}'s inbox");
    }
    let log = p.audit();
    let uploads: Vec<_> = log.iter().filter(|e| e["action"] == "upload").collect();
    assert_eq!(uploads.len(), 200);
    for id in ids {
        assert_eq!(
            uploads
                .iter()
                .filter(|e| e["upload"] == id.as_str())
                .count(),
            1,
            "{id} logged once"
        );
    }
}

/// Reads what the server sends until it closes the connection; panics if it is still open
/// after `within` (the read timeout), which is what a missing server-side timeout looks like.
fn read_until_closed(stream: &mut std::net::TcpStream, within: std::time::Duration) -> String {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server kept the connection open ({e}); got so far: {}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn limits(c: &mut backbone_portal::Config, header: u64, idle: u64, max_connections: usize) {
    c.limits = backbone_portal::Limits {
        header_timeout: std::time::Duration::from_secs(header),
        idle_timeout: std::time::Duration::from_secs(idle),
        max_connections,
        ..backbone_portal::Limits::default()
    };
}

/// Opens an upload by hand: the request line and headers of a multipart POST of `len` bytes.
fn send_head(s: &mut std::net::TcpStream, token: &str, content_type: &str, len: usize) {
    let head = format!(
        "POST /api/submissions HTTP/1.1\r\nHost: portal\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
}

/// Sends `body` 64 bytes every 100 ms (~640 bytes a second, never silent for long) on a thread,
/// for 10 s at most, then closes the sending side, so a test ends even when the portal does
/// not cut the client off.
fn trickle(s: &std::net::TcpStream, body: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut writer = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        for piece in body.chunks(64) {
            if started.elapsed() > std::time::Duration::from_secs(10)
                || writer.write_all(piece).is_err()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
    })
}

/// Files of uploads still arriving (or left behind by one cut off).
fn partial_uploads(p: &Portal) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(p.ws().join(".backbone/portal/tmp"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let p = Portal::start(workspace(1, ""), |c| limits(c, 1, 60, 16));
    let addr = p.server.as_ref().unwrap().addr;
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\nX-Slow: ")
        .unwrap();
    let started = std::time::Instant::now();
    read_until_closed(&mut slow, std::time::Duration::from_secs(20));
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "closed before the header timeout: {:?}",
        started.elapsed()
    );
    // A connection that sends nothing at all is closed too.
    let mut silent = std::net::TcpStream::connect(addr).unwrap();
    read_until_closed(&mut silent, std::time::Duration::from_secs(20));
    assert_eq!(get(&p.url("/"), None, None).status, 200, "still serving");
}

#[test]
fn an_upload_that_stalls_is_refused_and_its_partial_file_removed() {
    let p = Portal::start(workspace(1, ""), |c| limits(c, 30, 1, 16));
    let addr = p.server.as_ref().unwrap().addr;
    let file = csv("A01", 3, 200, 0);
    let (content_type, body) = multipart(&[], Some(("visits_2024-03.csv", &file)));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    send_head(&mut s, p.token("p01"), &content_type, body.len());
    // Part of the file, then nothing.
    s.write_all(&body[..body.len() / 2]).unwrap();
    let answer = read_until_closed(&mut s, std::time::Duration::from_secs(20));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"stalled\""), "{answer}");
    let left = partial_uploads(&p);
    assert!(left.is_empty(), "partial upload kept: {left:?}");
    assert!(p.inbox("p01").is_empty(), "nothing queued");
    assert!(
        p.audit().iter().any(|e| e["outcome"] == "stalled"),
        "the refusal is in the audit log"
    );
    // The same file sent whole is taken.
    assert_eq!(
        upload(&p, p.token("p01"), "visits_2024-03.csv", &file, &[]).status,
        201
    );
}

#[test]
fn silent_connections_beyond_the_limit_wait_and_do_not_starve_the_portal() {
    let p = Portal::start(workspace(1, ""), |c| limits(c, 2, 60, 2));
    let addr = p.server.as_ref().unwrap().addr;
    // Two connections that send nothing take both places.
    let silent: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (tx, rx) = std::sync::mpsc::channel();
    let url = p.url("/");
    let asker = std::thread::spawn(move || tx.send(get(&url, None, None).status).unwrap());
    // While they hold the places, a third client is not served…
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(500))
            .is_err(),
        "served beyond the connection limit"
    );
    // …and once the header timeout has closed them, it is.
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap(),
        200
    );
    asker.join().unwrap();
    drop(silent);
}

#[test]
fn a_refused_upload_that_trickles_is_answered_and_closed() {
    let p = Portal::start(workspace(1, ""), |c| limits(c, 30, 1, 16));
    let addr = p.server.as_ref().unwrap().addr;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let (content_type, body) = multipart(&[], Some(("x_2024-03.csv", &garbage(1 << 20))));
    // A wrong token: the body is drained before the answer, as a courtesy…
    send_head(&mut s, "bbt_wrong", &content_type, body.len());
    // …and this client sends it a few bytes at a time, never pausing long enough to stall,
    // for 10 s (then it gives up, so that the test ends even when the portal does not).
    let trickle = trickle(&s, body);
    let started = std::time::Instant::now();
    let answer = read_until_closed(&mut s, std::time::Duration::from_secs(30));
    let took = started.elapsed();
    trickle.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // The drain gave up after the idle time (1 s here), not when the client did (10 s).
    assert!(
        took < std::time::Duration::from_secs(8),
        "answered after {took:?}"
    );
}

#[test]
fn an_upload_that_crawls_is_refused_and_its_partial_file_removed() {
    // Never silent for the idle time (1 s), but ~640 bytes a second against the 1 KiB floor.
    let p = Portal::start(workspace(1, ""), |c| limits(c, 30, 1, 16));
    let addr = p.server.as_ref().unwrap().addr;
    let file = csv("A01", 3, 400, 0);
    let (content_type, body) = multipart(&[], Some(("visits_2024-03.csv", &file)));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    send_head(&mut s, p.token("p01"), &content_type, body.len());
    let crawl = trickle(&s, body);
    let answer = read_until_closed(&mut s, std::time::Duration::from_secs(30));
    crawl.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"too_slow\""), "{answer}");
    let left = partial_uploads(&p);
    assert!(left.is_empty(), "partial upload kept: {left:?}");
    assert!(p.inbox("p01").is_empty(), "nothing queued");
}

/// Finding 4 of issue 18: 300 sockets from one address, each sending half a request header,
/// do not delay another address's upload: each address holds a share of the connections, and
/// those beyond it are closed at once.
#[test]
fn three_hundred_half_open_connections_from_one_address_do_not_delay_another() {
    use std::io::Read;
    let p = Portal::start(workspace(1, ""), |_| {});
    let addr = p.server.as_ref().unwrap().addr;
    // 127.0.0.1 opens 300 connections, each stopping in the middle of its headers.
    let mut held: Vec<std::net::TcpStream> = Vec::new();
    for _ in 0..300 {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\nX-Half: ");
            held.push(s);
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // 127.0.0.2 uploads a file.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.2:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let started = std::time::Instant::now();
    socket.connect(&addr.into()).unwrap();
    let mut other: std::net::TcpStream = socket.into();
    let file = csv("p01", 3, 5, 0);
    let (content_type, body) = multipart(&[], Some(("visits_2024-03.csv", &file)));
    let head = format!(
        "POST /api/submissions HTTP/1.1\r\nHost: portal\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        p.token("p01"),
        body.len()
    );
    other.write_all(head.as_bytes()).unwrap();
    other.write_all(&body).unwrap();
    other
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut first = [0u8; 12];
    other.read_exact(&mut first).unwrap();
    let took = started.elapsed();
    assert_eq!(
        &first,
        b"HTTP/1.1 201",
        "{}",
        String::from_utf8_lossy(&first)
    );
    assert!(
        took < std::time::Duration::from_secs(2),
        "answered after {took:?}"
    );
    // The first address keeps only its share: most of its 300 sockets were closed at once.
    let mut closed = 0;
    for s in &mut held {
        s.set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .unwrap();
        let mut b = [0u8; 1];
        let open = matches!(
            s.read(&mut b),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        );
        closed += usize::from(!open);
    }
    assert!(closed >= 250, "{closed} of 300 closed");
}
