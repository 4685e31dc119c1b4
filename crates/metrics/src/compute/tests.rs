use super::*;
use proptest::prelude::*;

/// (days since 1970 or none, region or none, person, value or none, flag or none)
type Row = (
    Option<i32>,
    Option<&'static str>,
    String,
    Option<f64>,
    Option<bool>,
);

fn rows() -> impl Strategy<Value = Vec<Row>> {
    let person = prop_oneof![
        // Pseudonyms from a small pool, so people recur; and other text.
        // Spread over all 128 bits: the kept sets deal pseudonyms into parts by their top bits.
        (0u8..12).prop_map(|i| format!(
            "{:032x}",
            u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        )),
        "[A-Z]{1,3}",
    ];
    proptest::collection::vec(
        (
            proptest::option::weighted(0.9, 19_700i32..20_500),
            proptest::option::weighted(
                0.8,
                prop_oneof![Just("north"), Just("south"), Just("מרכז")],
            ),
            person,
            proptest::option::weighted(0.8, (0i32..6).prop_map(f64::from)),
            proptest::option::weighted(0.8, any::<bool>()),
        ),
        0..120,
    )
}

const DECLARED: &str = r#"
[[indicator]]
id = "flagged"
label = { en = "Flagged" }
schema = "t"
kind = "count"
filter = "flag = true"
date_field = "d"
grain = "month"
dimensions = ["region"]

[[indicator]]
id = "people"
label = { en = "People" }
schema = "t"
kind = "distinct_count"
field = "person"
date_field = "d"
grain = "quarter"
dimensions = ["region"]

[[indicator]]
id = "total"
label = { en = "Total" }
schema = "t"
kind = "sum"
field = "value"
date_field = "d"
grain = "month"

[[indicator]]
id = "average"
label = { en = "Average" }
schema = "t"
kind = "mean"
field = "value"
filter = "value > 2"
date_field = "d"
grain = "year"
dimensions = ["region"]
"#;

/// The same cells, the slow and obvious way.
fn by_hand(ind: &Indicator, rows: &[Row]) -> Cells {
    // Per cell: rows, values, people.
    type Acc = (u64, Vec<f64>, BTreeSet<String>);
    let mut acc: BTreeMap<(PeriodKey, Breakdown), Acc> = BTreeMap::new();
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    for (d, region, person, value, flag) in rows {
        let passes = match ind.id.as_str() {
            "flagged" => *flag == Some(true),
            "average" => value.is_some_and(|v| v > 2.0),
            _ => true,
        };
        let Some(d) = d.filter(|_| passes) else {
            continue;
        };
        let date = epoch + chrono::Duration::days(i64::from(d));
        use chrono::Datelike;
        let key = key_of_month(ind.grain, (date.year(), date.month()), 1).unwrap();
        let mut breakdowns = vec![String::new()];
        if !ind.dimensions.is_empty() {
            breakdowns.push(format!("region={}", region.unwrap_or("(missing)")));
        }
        for b in breakdowns {
            let e = acc.entry((key, b)).or_default();
            e.0 += 1;
            e.1.extend(*value);
            e.2.insert(person.clone());
        }
    }
    acc.into_iter()
        .map(|(k, (n, values, people))| {
            let cell = match ind.kind {
                Kind::Count => Aggregate {
                    value: Some(n as f64),
                    units: n,
                },
                Kind::DistinctCount => Aggregate {
                    value: Some(people.len() as f64),
                    units: people.len() as u64,
                },
                Kind::Sum => Aggregate {
                    value: Some(values.iter().sum()),
                    units: values.len() as u64,
                },
                _ => Aggregate {
                    value: (!values.is_empty())
                        .then(|| values.iter().sum::<f64>() / values.len() as f64),
                    units: values.len() as u64,
                },
            };
            (k, cell)
        })
        .collect()
}

fn frame(rows: &[Row]) -> LazyFrame {
    let d: Vec<Option<i32>> = rows.iter().map(|r| r.0).collect();
    let columns = vec![
        Column::new("d".into(), d).cast(&DataType::Date).unwrap(),
        Column::new(
            "region".into(),
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        ),
        Column::new(
            "person".into(),
            rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
        ),
        Column::new("value".into(), rows.iter().map(|r| r.3).collect::<Vec<_>>()),
        Column::new("flag".into(), rows.iter().map(|r| r.4).collect::<Vec<_>>()),
    ];
    DataFrame::new_infer_height(columns).unwrap().lazy()
}

#[test]
fn a_filter_that_is_not_a_condition_names_its_indicator() {
    let text = DECLARED.replace("filter = \"flag = true\"", "filter = \"value + 1\"");
    let indicators = backbone_schema::indicators_from_toml(&text, "t.toml").unwrap();
    let rows = vec![(Some(19_800), None, "A".to_owned(), Some(1.0), None)];
    let tables = BTreeMap::from([(
        "t".to_owned(),
        Rows {
            all: frame(&rows),
            batches: vec![frame(&rows)],
            with_paths: Vec::new(),
            parts: 1,
            aggregate: false,
        },
    )]);
    let sides = [Side {
        indicator: &indicators[0],
        measure: None,
    }];
    let err = aggregate_all(&tables, &sides, 1, None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "indicator flagged: the filter \"value + 1\" is not a condition (true or false for each row)"
    );
}

proptest! {
    /// Every kind, grain, filter and breakdown, tallied from batches (the rows cut at
    /// random places, so codes must agree across batches) and with distinct counts dealt into
    /// one to four parts on disk, equals the count by hand.
    #[test]
    fn tallies_match_counting_by_hand(
        rows in rows(),
        cuts in proptest::collection::vec(0usize..120, 0..3),
        parts in 1usize..5,
    ) {
        let indicators = backbone_schema::indicators_from_toml(DECLARED, "t.toml").unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(rows.len())).collect();
        cuts.extend([0, rows.len()]);
        cuts.sort_unstable();
        cuts.dedup();
        let batches: Vec<LazyFrame> = cuts.windows(2).map(|w| frame(&rows[w[0]..w[1]])).collect();
        let batches = if batches.is_empty() { vec![frame(&rows)] } else { batches };
        let tables = BTreeMap::from([(
            "t".to_owned(),
            Rows { all: frame(&rows), batches, with_paths: Vec::new(), parts, aggregate: false },
        )]);
        let sides: Vec<Side> = indicators
            .iter()
            .map(|i| Side { indicator: i, measure: None })
            .collect();
        let cells = aggregate_all(&tables, &sides, 1, None, None).unwrap();
        for (ind, got) in indicators.iter().zip(cells) {
            prop_assert_eq!(&got, &by_hand(ind, &rows), "{}", ind.id);
        }
    }
}

fn table(rows: &[Row], parts: usize) -> BTreeMap<String, Rows> {
    BTreeMap::from([(
        "t".to_owned(),
        Rows {
            all: frame(rows),
            batches: vec![frame(rows)],
            with_paths: Vec::new(),
            parts,
            aggregate: false,
        },
    )])
}

/// The (year, month) of a row's date.
fn month_of(days: i32) -> (i32, u32) {
    use chrono::Datelike;
    let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        + chrono::Duration::days(i64::from(days));
    (date.year(), date.month())
}

/// Every file under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every file under `dir` holding `needle`.
fn holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
        })
        .collect()
}

proptest! {
    /// A month's rows replaced (a resubmission, an erasure): the quarter's distinct count is
    /// recounted from that month's new rows and the other months' kept sets, and equals the
    /// count by hand over the new rows; every other side, recomputed over its window, too. A
    /// person only in the replaced rows is in no kept file afterwards.
    #[test]
    fn kept_sets_recount_a_changed_month_exactly(
        rows in rows(),
        again in rows(),
        at in 0usize..120,
        parts in 1usize..4,
        // The ways of a national store's months: each month's records dealt into part files
        // before they are deduplicated, each part read in slices of this many bytes (up to
        // 2⁸ of them: beyond four, dealt into the slices' files).
        tight_full in proptest::option::of(1u64..200),
        tight_again in proptest::option::of(1u64..200),
    ) {
        let indicators = backbone_schema::indicators_from_toml(DECLARED, "t.toml").unwrap();
        let sides: Vec<Side> = indicators
            .iter()
            .map(|i| Side { indicator: i, measure: None })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path();
        let mut keep = kept::Keep::new(results, None, true).unwrap();
        if let Some(bytes) = tight_full {
            keep = keep.tight(bytes);
        }
        let full = aggregate_all(&table(&rows, parts), &sides, 1, None, Some(&mut keep)).unwrap();
        for (ind, got) in indicators.iter().zip(&full) {
            prop_assert_eq!(got, &by_hand(ind, &rows), "{}", ind.id);
        }
        keep.into_staged().commit(results, "t@1", "f").unwrap();

        // The month of one row (or of a date when there are none) gets new rows.
        let dated: Vec<i32> = rows.iter().filter_map(|r| r.0).collect();
        let day = dated.get(at % dated.len().max(1)).copied().unwrap_or(19_800);
        let month = month_of(day);
        let start = (chrono::NaiveDate::from_ymd_opt(month.0, month.1, 1).unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days() as i32;
        let mut after: Vec<Row> = rows
            .iter()
            .filter(|r| r.0.is_none_or(|d| month_of(d) != month))
            .cloned()
            .collect();
        after.extend(again.into_iter().map(|mut r| {
            r.0 = r.0.map(|d| start + d.rem_euclid(28));
            r
        }));
        let window = Window::from([month]);
        let previous = kept::usable(results, "t@1", "f");
        prop_assert!(previous.is_some());
        prop_assert!(kept::usable(results, "t@2", "f").is_none());
        let mut keep = kept::Keep::new(results, previous, false).unwrap();
        if let Some(bytes) = tight_again {
            keep = keep.tight(bytes);
        }
        let got = aggregate_all(&table(&after, parts), &sides, 1, Some(&window), Some(&mut keep))
            .unwrap();
        for (ind, got) in indicators.iter().zip(&got) {
            let key = key_of_month(ind.grain, month, 1).unwrap();
            let want: Cells = by_hand(ind, &after)
                .into_iter()
                .filter(|((p, _), _)| *p == key)
                .collect();
            prop_assert_eq!(got, &want, "{}", ind.id);
        }
        keep.into_staged().commit(results, "t@2", "f").unwrap();
        prop_assert!(kept::usable(results, "t@2", "f").is_some());
        // Nobody gone from the rows stays in the kept sets.
        let kept_dir = results.join(kept::DIR);
        let kept_values: BTreeSet<u128> = files_under(&kept_dir)
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .flat_map(|p| kept::pseudonyms_in(p).unwrap())
            .collect();
        for r in &rows {
            let gone = !after.iter().any(|a| a.2 == r.2);
            if let (true, Some(bits)) = (gone, codes::pseudonym_bits(&r.2)) {
                prop_assert!(!kept_values.contains(&bits), "{} is still kept", r.2);
                // Nor anywhere in the files' bytes (a keyed hash has few zero bytes; a
                // generated one of mostly zeros would match a header's zero lengths).
                let bytes = bits.to_le_bytes();
                if bytes.iter().filter(|&&b| b != 0).count() >= 8 {
                    prop_assert_eq!(holding(&kept_dir, &bytes), Vec::<std::path::PathBuf>::new());
                }
            }
        }
        // Everybody still in the rows of a kept (yearly) side's months is kept.
        for r in &after {
            if let (Some(_), Some(bits)) = (r.0, codes::pseudonym_bits(&r.2)) {
                prop_assert!(kept_values.contains(&bits), "{} is not kept", r.2);
            }
        }
        // Results written without sets leave none behind.
        kept::forget(results).unwrap();
        prop_assert!(!kept_dir.exists());
    }
}

#[test]
fn period_keys_and_labels() {
    assert_eq!(parse_period(Grain::Quarter, "2024-Q3"), Some(202403));
    assert_eq!(period_label(Grain::HalfYear, 202402), "2024-H2");
    assert_eq!(next(Grain::Quarter, 202404), 202501);
    assert_eq!(next(Grain::Month, 202412), 202501);
    assert_eq!(
        ordinal(Grain::Month, 202501) - ordinal(Grain::Month, 202412),
        1
    );
    // A reporting year starting in September: its Q2 is December to February.
    assert_eq!(
        months_of(Grain::Quarter, 202402, 9),
        [(2024, 12), (2025, 1), (2025, 2)]
    );
    assert_eq!(parse_period(Grain::Month, "2024-13"), None);
}

#[test]
fn distinct_counts_stay_in_memory_up_to_a_bound_then_go_to_parts_and_a_window_has_its_own() {
    let whole = |rows: &[u64]| parts_for(rows, MEMORY_ROWS, PART_ROWS);
    // Up to MEMORY_ROWS, whatever the files: one part, in memory.
    assert_eq!(whole(&[]), 1);
    assert_eq!(whole(&[MEMORY_ROWS / 2, MEMORY_ROWS / 2]), 1);
    // One row more: parts of PART_ROWS on disk.
    assert_eq!(
        whole(&[MEMORY_ROWS, 1]),
        usize::try_from((MEMORY_ROWS + 1).div_ceil(PART_ROWS)).unwrap()
    );
    assert_eq!(whole(&[100_000_000]), 100);
    // A window's rows (an incremental computation's changed months) under their own, lower
    // bound: a month of the 5M store in memory, one of the 10⁸ store in parts.
    let paths: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
    let scan = |p: &[String], _: bool| Ok(frame(&[(None, None, p.len().to_string(), None, None)]));
    let mut rows = Rows::new(paths.clone(), &[8_000; 200], scan).unwrap();
    assert_eq!(rows.parts, 1, "1.6M rows in all: one part for the full run");
    rows.batches_of(&paths[..10], &[8_000; 10], scan).unwrap();
    assert_eq!(rows.parts, 1, "80 000 rows of a window stay in memory");
    rows.batches_of(&paths, &[8_000; 200], scan).unwrap();
    assert_eq!(
        rows.batches.len(),
        (200 * 8_000u64).div_ceil(WINDOW_BATCH_ROWS) as usize,
        "a window's rows are read in smaller batches"
    );
    assert_eq!(
        rows.parts,
        usize::try_from((200 * 8_000u64).div_ceil(WINDOW_PART_ROWS)).unwrap(),
        "1.6M rows of a window go to parts of WINDOW_PART_ROWS"
    );
    // Batches are cut by the files' rows: the 5M store's 400-row files and the 10⁸ store's
    // 8 000-row files both give batches of about BATCH_ROWS.
    let paths: Vec<String> = (0..100).map(|i| format!("f{i}")).collect();
    let (batches, _) = Rows::cut(&paths, &[400; 100], BATCH_ROWS, &scan).unwrap();
    assert_eq!(batches.len(), 1);
    let (batches, _) = Rows::cut(&paths, &[8_000; 100], BATCH_ROWS, &scan).unwrap();
    assert_eq!(
        batches.len(),
        (100 * 8_000u64).div_ceil(BATCH_ROWS) as usize
    );
}

#[test]
fn a_kept_part_too_large_for_memory_is_read_in_slices_each_value_in_one() {
    use kept::{Slices, slices_for};
    // As many slices as keep each under the bound, in powers of two, at most 2⁸.
    assert_eq!(slices_for(0, 100).count(), 1);
    assert_eq!(slices_for(100, 100).count(), 1);
    assert_eq!(slices_for(101, 100).count(), 2);
    assert_eq!(slices_for(401, 100).count(), 8);
    assert_eq!(slices_for(u64::MAX / 2, 100).count(), 256);
    // The values of one part (the same top five bits) spread over every slice, by the bits
    // after those; a value's slice is the same whatever month it is read from.
    let slices: Slices = slices_for(401, 100);
    let mut seen = [0usize; 8];
    for i in 0u128..4_000 {
        let bits =
            (0b10110 << 123) | (i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) >> 5);
        let mut value = vec![1u8];
        value.extend_from_slice(&bits.to_le_bytes());
        let slice = slices.slice_of(&value);
        assert_eq!(slice, ((bits >> 120) & 0b111) as usize);
        seen[slice] += 1;
    }
    assert!(seen.iter().all(|&n| n > 300), "{seen:?}");
    // Texts by their hash, past the bits that chose the part.
    let mut seen = [0usize; 8];
    for i in 0..4_000 {
        let text = format!("person {i}");
        let mut value = vec![2u8];
        value.extend_from_slice(&(text.len() as u32).to_le_bytes());
        value.extend_from_slice(text.as_bytes());
        seen[slices.slice_of(&value)] += 1;
    }
    assert!(seen.iter().all(|&n| n > 300), "{seen:?}");
}
