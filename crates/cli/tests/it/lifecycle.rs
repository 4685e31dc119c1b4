//! The store's life cycle end to end: `backbone erase` and `vacuum` (a person planted across three partners
//! and two resubmissions leaves every byte of the workspace, and everyone else stays), `rekey`.

use std::path::{Path, PathBuf};

use crate::common::{backbone_at, example_workspace, stored_ids, text};
use backbone_store::Store;

const ID: &str = "034567891";
const HEAD: &str = "record_id,person_id,referral_date,first_contact_date,gender,age,region,service_type,minutes,outcome_improved";

/// A month's file: `others` rows of other people, and the person's rows (`mine`: record ids).
fn file(dir: &Path, name: &str, prefix: &str, others: usize, mine: &[(&str, &str)]) -> PathBuf {
    let mut lines = vec![HEAD.to_owned()];
    for i in 0..others {
        lines.push(format!(
            "{prefix}-{:04},{},05/01/2024,07/01/2024,female,{},צפון,counseling,30,yes",
            i + 1,
            200_000_000 + i * 7919,
            20 + i % 50
        ));
    }
    for (record, age) in mine {
        lines.push(format!(
            "{record},{ID},10/01/2024,11/01/2024,female,{age},צפון,shelter,45,no"
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn ingest(ws: &Path, f: &Path, partner: &str, period: &str, clock: &str) {
    let o = backbone_at(
        ws,
        &[
            "ingest",
            f.to_str().unwrap(),
            "--partner",
            partner,
            "--schema",
            "service_records",
            "--period",
            period,
        ],
        clock,
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// Every file under `dir` whose bytes contain `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if contains(&p, needle) {
                out.push(p);
            }
        }
    }
    out
}

/// Whether a file holds `needle`: its bytes, and for a Parquet file (whose pages may be
/// compressed or dictionary-encoded) every value of every row, nested ones included.
fn contains(path: &Path, needle: &[u8]) -> bool {
    let bytes = std::fs::read(path).unwrap();
    if bytes.windows(needle.len()).any(|w| w == needle) {
        return true;
    }
    if !bytes.starts_with(b"PAR1") {
        return false;
    }
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let needle = String::from_utf8_lossy(needle).into_owned();
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .any(|row| row.unwrap().to_string().contains(&needle))
}

fn pseudonym_of(ws: &Path, record: &str) -> String {
    let store = Store::open(&ws.join("store")).unwrap();
    for b in store.read("service_records", None).unwrap() {
        let ids = b.column_by_name("record_id").unwrap();
        let ids = ids
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        let people = b.column_by_name("person_id").unwrap();
        let people = people
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        for i in 0..b.num_rows() {
            if ids.value(i) == record {
                return people.value(i).to_owned();
            }
        }
    }
    panic!("no record {record}")
}

#[test]
fn an_erased_person_is_in_no_byte_of_the_workspace_and_everyone_else_stays() {
    let ws = example_workspace();
    let p = ws.path();
    let files = tempfile::tempdir().unwrap();
    let f = files.path();
    // Three partners; the shelter and the welfare department each send January twice, the
    // person in both files; at the clinic one of their rows is rejected (age "old").
    let s1 = file(f, "shelter-2024-01.csv", "S24", 30, &[("S24-9001", "34")]);
    ingest(p, &s1, "shelter", "2024-01", "2024-02-03T08:00:00Z");
    let s2 = file(
        f,
        "shelter-2024-01-fixed.csv",
        "S24",
        31,
        &[("S24-9001", "34"), ("S24-9002", "34")],
    );
    ingest(p, &s2, "shelter", "2024-01", "2024-02-10T08:00:00Z");
    let w1 = file(f, "welfare-2024-01.csv", "W24", 25, &[("W24-9001", "34")]);
    ingest(p, &w1, "welfare", "2024-01", "2024-02-04T08:00:00Z");
    let w2 = file(f, "welfare-2024-01b.csv", "W24", 26, &[("W24-9001", "35")]);
    ingest(p, &w2, "welfare", "2024-01", "2024-02-11T08:00:00Z");
    let c1 = file(
        f,
        "clinic-2024-02.csv",
        "C24",
        20,
        &[("C24-9001", "34"), ("C24-9002", "old")],
    );
    ingest(p, &c1, "clinic", "2024-02", "2024-03-05T08:00:00Z");
    let o = backbone_at(p, &["metrics"], "2024-03-06T08:00:00Z");
    assert!(o.status.success(), "{}", text(&o));

    let pseudonym = pseudonym_of(p, "S24-9001");
    assert_eq!(
        pseudonym_of(p, "C24-9001"),
        pseudonym,
        "one person, one pseudonym"
    );
    let before = stored_ids(p, None);
    let theirs = ["C24-9001", "S24-9001", "S24-9002", "W24-9001"];
    assert!(theirs.iter().all(|r| before.iter().any(|b| b == r)));
    // The test can fail: before the erasure, the pseudonym is in the store's files and the
    // identifier in the raw ones.
    assert!(!holding(&p.join("store"), pseudonym.as_bytes()).is_empty());
    assert!(!holding(&p.join("archive"), ID.as_bytes()).is_empty());
    // The kept distinct sets of the results (the quarter's people reached) hold the
    // pseudonym as its 128 bits.
    let bits = u128::from_str_radix(&pseudonym, 16).unwrap().to_le_bytes();
    assert!(!holding(&p.join("results").join("distinct"), &bits).is_empty());
    let old_version = Store::open(&p.join("store"))
        .unwrap()
        .version("service_records")
        .unwrap()
        .unwrap();

    // Partners write the identifier in their own ways: without the leading zero here.
    let o = backbone_at(
        p,
        &["erase", "--schema", "service_records", "--id", "34567891"],
        "2024-03-07T08:00:00Z",
    );
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("4 row(s) of 3 submission(s)"), "{said}");
    assert!(said.contains("1 rejected-row problem(s)"), "{said}");
    assert!(said.contains("raw files: 5 rewritten"), "{said}");
    assert!(said.contains("run `backbone vacuum`"), "{said}");
    assert!(!said.contains(&pseudonym) && !said.contains(ID), "{said}");

    // Everyone else is still there; the person's rows are not.
    let after = stored_ids(p, None);
    let expected: Vec<String> = before
        .iter()
        .filter(|r| !theirs.contains(&r.as_str()))
        .cloned()
        .collect();
    assert_eq!(after, expected);
    // The raw files keep every other row, at its row number.
    let redacted = holding(&p.join("archive"), b"S24-0031");
    assert_eq!(redacted.len(), 1, "{redacted:?}");
    let kept = std::fs::read_to_string(&redacted[0]).unwrap();
    let lines: Vec<&str> = kept.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines.len(), 34, "{kept}");
    assert!(lines[31].starts_with("S24-0031,"), "{kept}");
    assert_eq!(lines[32..], [",,,,,,,,,", ",,,,,,,,,"]);

    // Status lists the erasure, without the identifier.
    let o = backbone_at(p, &["status"], "2024-03-07T09:00:00Z");
    let status = text(&o);
    assert!(status.contains("erasures"), "{status}");
    assert!(status.contains("wait for `backbone vacuum`"), "{status}");

    let o = backbone_at(p, &["vacuum"], "2024-03-08T08:00:00Z");
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("held an erased person"), "{said}");

    // No byte anywhere under the workspace holds the pseudonym or the identifier.
    assert_eq!(holding(p, pseudonym.as_bytes()), Vec::<PathBuf>::new());
    assert_eq!(holding(p, &bits), Vec::<PathBuf>::new());
    assert_eq!(holding(p, ID.as_bytes()), Vec::<PathBuf>::new());
    assert_eq!(holding(p, b"34567891"), Vec::<PathBuf>::new());

    // A version that held them says plainly that it is no longer kept.
    let o = backbone_at(
        p,
        &[
            "export",
            "service_records",
            "--as-of",
            &old_version.to_string(),
        ],
        "2024-03-08T09:00:00Z",
    );
    let said = text(&o);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("no longer kept"), "{said}");
    assert!(said.contains("erased"), "{said}");
    // The results were computed again, and everything still runs.
    let o = backbone_at(p, &["metrics"], "2024-03-09T08:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
}

/// `indicators.csv` without its `store_version` column (which names the versions read).
fn values(ws: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(ws.join("results/indicators.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = head.iter().position(|h| *h == "store_version").unwrap();
    lines
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != at)
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn a_rotated_key_rewrites_every_pseudonym_keeps_every_number_and_the_old_key_finds_nobody() {
    let ws = example_workspace();
    let p = ws.path();
    let files = tempfile::tempdir().unwrap();
    let f = files.path();
    let s1 = file(f, "shelter-2024-01.csv", "S24", 30, &[("S24-9001", "34")]);
    ingest(p, &s1, "shelter", "2024-01", "2024-02-03T08:00:00Z");
    let w1 = file(f, "welfare-2024-01.csv", "W24", 25, &[("W24-9001", "34")]);
    ingest(p, &w1, "welfare", "2024-01", "2024-02-04T08:00:00Z");
    let o = backbone_at(p, &["metrics"], "2024-02-05T08:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    let before = values(p);
    let old = pseudonym_of(p, "S24-9001");
    assert_eq!(pseudonym_of(p, "W24-9001"), old);
    let other_old = pseudonym_of(p, "S24-0001");

    let o = backbone_at(p, &["rekey"], "2024-02-06T08:00:00Z");
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains("service_records: 57 row(s) re-pseudonymised"),
        "{said}"
    );
    assert!(said.contains("rotated 1 time(s)"), "{said}");
    assert!(p.join(".backbone/rotations.key").exists());
    assert!(!p.join(".backbone/rotations.key.next").exists());

    // Every pseudonym changed; the person is still one person.
    let new = pseudonym_of(p, "S24-9001");
    assert_ne!(new, old);
    assert_eq!(pseudonym_of(p, "W24-9001"), new);
    assert_ne!(pseudonym_of(p, "S24-0001"), other_old);
    // Every number is the same, computed from scratch.
    let o = backbone_at(p, &["metrics", "--full"], "2024-02-06T09:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(values(p), before);

    // A file ingested after the rotation gives the person the same pseudonym as before it.
    let c1 = file(f, "clinic-2024-02.csv", "C24", 20, &[("C24-9001", "34")]);
    ingest(p, &c1, "clinic", "2024-02", "2024-03-05T08:00:00Z");
    assert_eq!(pseudonym_of(p, "C24-9001"), new);

    // Once vacuumed, the old pseudonyms (all the leaked key can compute) are nowhere.
    let o = backbone_at(p, &["vacuum"], "2024-03-06T08:00:00Z");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        holding(&p.join("store"), old.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        holding(&p.join("store"), other_old.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert!(!holding(&p.join("store"), new.as_bytes()).is_empty());
    // Nor in the results' kept distinct sets (pseudonyms as their 128 bits), recomputed
    // with the new ones.
    let bits = |p: &str| u128::from_str_radix(p, 16).unwrap().to_le_bytes();
    assert_eq!(
        holding(&p.join("results"), &bits(&old)),
        Vec::<PathBuf>::new()
    );
    assert!(!holding(&p.join("results"), &bits(&new)).is_empty());

    // Run again, it rotates again.
    let o = backbone_at(p, &["rekey"], "2024-03-07T08:00:00Z");
    assert!(text(&o).contains("rotated 2 time(s)"), "{}", text(&o));
    assert_ne!(pseudonym_of(p, "C24-9001"), new);
    assert_eq!(pseudonym_of(p, "C24-9001"), pseudonym_of(p, "S24-9001"));
}
