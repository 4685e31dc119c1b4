//! `backbone profile draft`: a partner profile proposed from a sample file. The header row is
//! found, each column matched to a field (by name or alias, by a normalised spelling, by
//! transliteration, or by its values) with its confidence, unknown spellings of a field's
//! values proposed as a value map, the date order decided by evidence, the separators of
//! numbers, a wide layout and a workbook's sheets recognised. The draft is TOML with comments
//! that say why; the data manager reads, corrects and keeps it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use backbone_schema::{Field, FieldType, Profile, TableSchema, normalise_header};

use crate::block::{CellView, Work};
use crate::cast::{CastFail, Caster, Checks};
use crate::cell::{Cell, column_letters};
use crate::error::IngestError;
use crate::{Kind, Limits, Opened, layout, open_source, sheet, text};

/// Rows read from the top of a file (or a sheet) to draft from.
const SAMPLE_ROWS: usize = 2000;
/// Rows searched for the header.
const HEADER_ROWS: usize = 50;
/// Sheets of a workbook looked at.
const MAX_SHEETS: usize = 24;

/// One cell of the sample: its text, and whether the spreadsheet typed it (a number or a date
/// cell, which needs no format).
#[derive(Clone, Debug)]
struct SCell {
    text: String,
    typed: bool,
}

/// The top of a file, read as `validate` reads it.
struct Sample {
    rows: Vec<(u64, Vec<SCell>)>,
    encoding: Option<String>,
    delimiter: Option<u8>,
    sheet: Option<String>,
}

fn sample(
    path: &Path,
    file: &str,
    reading: &Profile,
    wanted: Option<&str>,
    limits: &Limits,
) -> Result<Sample, IngestError> {
    sample_rows(path, file, reading, wanted, limits, SAMPLE_ROWS)
}

/// The first rows of a file as `read_file` sees them (before the header is known), as text:
/// where a header is looked for.
pub(crate) fn sample_texts(
    path: &Path,
    file: &str,
    reading: &Profile,
    limits: &Limits,
) -> Result<TextRows, IngestError> {
    let s = sample_rows(
        path,
        file,
        reading,
        reading.sheet.as_deref(),
        limits,
        limits.header_scan_rows,
    )?;
    Ok(s.rows
        .into_iter()
        .map(|(n, cells)| (n, cells.into_iter().map(|c| c.text).collect()))
        .collect())
}

/// Rows as read: each row's number and its cells as text.
pub type TextRows = Vec<(u64, Vec<String>)>;

/// A file's cells as backbone reads them, and how it read them.
#[derive(Debug)]
pub struct Cells {
    /// The sheet read (workbooks).
    pub sheet: Option<String>,
    /// The encoding the text was decoded with (text files).
    pub encoding: Option<String>,
    /// The delimiter (text files).
    pub delimiter: Option<char>,
    /// Each row's number and its cells as displayed, trimmed.
    pub rows: TextRows,
}

/// The cells of a file as backbone reads them, before any header or schema, of the sheet
/// `read_file` would read (or `sheet`). For comparing backbone's reading with other readers
/// (`bench/corpus_compare.py`).
pub fn read_cells(
    path: &Path,
    file: &str,
    sheet: Option<&str>,
    limits: &Limits,
    max_rows: usize,
) -> Result<Cells, IngestError> {
    let s = sample_rows(path, file, &Profile::default(), sheet, limits, max_rows)?;
    Ok(Cells {
        sheet: s.sheet,
        encoding: s.encoding,
        delimiter: s.delimiter.map(char::from),
        rows: s
            .rows
            .into_iter()
            .map(|(n, cells)| (n, cells.into_iter().map(|c| c.text).collect()))
            .collect(),
    })
}

fn sample_rows(
    path: &Path,
    file: &str,
    reading: &Profile,
    wanted: Option<&str>,
    limits: &Limits,
    max_rows: usize,
) -> Result<Sample, IngestError> {
    let Opened { kind, reader, head } = open_source(path, file, reading, limits)?;
    let (tx, rx) = crossbeam_channel::bounded::<Result<Work, IngestError>>(4);
    let sheet_name = OnceLock::new();
    let mut out = Sample {
        rows: Vec::new(),
        encoding: None,
        delimiter: None,
        sheet: None,
    };
    let delimiter = match &kind {
        Kind::Text(plan) => {
            out.encoding = Some(plan.encoding.name().to_owned());
            out.delimiter = Some(plan.delimiter);
            plan.delimiter
        }
        Kind::Sheet(_) => b',',
    };
    std::thread::scope(|scope| -> Result<(), IngestError> {
        match &kind {
            Kind::Text(plan) => {
                scope.spawn(move || text::produce(reader, head, plan, file, limits, &tx));
            }
            Kind::Sheet(k) => {
                let (k, sheet_name) = (*k, &sheet_name);
                scope.spawn(move || {
                    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        sheet::produce(path, k, wanted, file, limits, sheet_name, &tx);
                    }));
                    if read.is_err() {
                        let _ = tx.send(Err(IngestError::Spreadsheet {
                            file: file.to_owned(),
                            sheet: None,
                            message: "the file is damaged: the spreadsheet reader stopped on it"
                                .to_owned(),
                        }));
                    }
                });
            }
        }
        let rx = rx;
        'read: for msg in rx.iter() {
            let block = match msg? {
                Work::Block(b) => b,
                Work::Chunk(c) => text::parse_chunk(c, delimiter, file, limits)?,
            };
            let mut view = Vec::new();
            for i in 0..block.len() {
                let n = block.row(i, &mut view);
                let cells = view
                    .iter()
                    .map(|c| match c {
                        CellView::Cell(c) => SCell {
                            text: c
                                .display()
                                .chars()
                                .filter(|ch| !backbone_schema::is_invisible(*ch))
                                .collect::<String>()
                                .trim()
                                .to_owned(),
                            typed: !matches!(c, Cell::Text(_) | Cell::Str(_)),
                        },
                        CellView::Oversized(_) => SCell {
                            text: String::new(),
                            typed: false,
                        },
                    })
                    .collect();
                out.rows.push((n, cells));
                if out.rows.len() >= max_rows {
                    break 'read;
                }
            }
        }
        // The reader stops when its next send fails.
        drop(rx);
        Ok(())
    })?;
    out.sheet = sheet_name.get().cloned();
    Ok(out)
}

/// Why a column was matched to a field.
#[derive(Clone, Debug)]
struct Match {
    field: usize,
    col: usize,
    confidence: f64,
    how: String,
    /// The label is not yet a name or alias of the field: the draft adds it.
    alias: bool,
}

/// Letters only, lower case: `ת.ז.` and `ת"ז` and `תז` are one spelling.
fn squash(s: &str) -> String {
    normalise_header(s)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Hebrew letters to Latin as an English speaker would spell them (`מין` → `myn`), final
/// forms folded: enough to tell `גיל` from `gil` and `סטטוס` from `status`.
fn transliterate(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'א' | 'ע' => "a",
            'ב' => "b",
            'ג' => "g",
            'ד' => "d",
            'ה' => "h",
            'ו' => "v",
            'ז' => "z",
            'ח' => "ch",
            'ט' | 'ת' => "t",
            'י' => "y",
            'כ' | 'ך' | 'ק' => "k",
            'ל' => "l",
            'מ' | 'ם' => "m",
            'נ' | 'ן' => "n",
            'ס' | 'ש' => "s",
            'פ' | 'ף' => "p",
            'צ' | 'ץ' => "ts",
            'ר' => "r",
            _ => "",
        })
        .collect::<String>()
        + &s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase()
}

/// Consonants only: transliterations drop vowels that the Latin spelling keeps.
fn skeleton(s: &str) -> String {
    s.chars()
        .filter(|c| !"aeiouy".contains(*c))
        .collect::<String>()
        .replace("ch", "k")
        .replace('c', "k")
        .replace('v', "b")
}

fn similarity(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    strsim::normalized_levenshtein(a, b)
}

/// How well a header label names a field (0 when it does not).
pub(crate) fn label_confidence(label: &str, field: &Field) -> f64 {
    by_label(label, field).map_or(0.0, |(c, _, _)| c)
}

/// The canonical value a new spelling of a field's value most likely means.
pub(crate) fn nearest_value(spelling: &str, field: &Field) -> Option<String> {
    let (allowed, known) = spellings(field);
    nearest(spelling, &allowed, &known)
}

/// How well a header label names a field, and why.
fn by_label(label: &str, field: &Field) -> Option<(f64, String, bool)> {
    let names: Vec<&String> = std::iter::once(&field.name).chain(&field.aliases).collect();
    let norm = normalise_header(label);
    if names.iter().any(|n| normalise_header(n) == norm) {
        let how = if normalise_header(&field.name) == norm {
            "its name"
        } else {
            "an alias"
        };
        return Some((1.0, how.to_owned(), false));
    }
    let sq = squash(label);
    if !sq.is_empty() && names.iter().any(|n| squash(n) == sq) {
        return Some((0.9, "the same spelling, punctuation aside".to_owned(), true));
    }
    let tl = skeleton(&transliterate(label));
    if tl.len() >= 2
        && names
            .iter()
            .any(|n| similarity(&skeleton(&transliterate(n)), &tl) >= 0.8)
    {
        return Some((0.75, "its transliteration".to_owned(), true));
    }
    let best = names
        .iter()
        .map(|n| similarity(&squash(n), &sq))
        .fold(0.0, f64::max);
    if best >= 0.75 {
        return Some((0.7 * best, format!("a similar spelling ({best:.2})"), true));
    }
    // `שיפור` for `חל שיפור`: the label is a word of a name, or a name a word of the label.
    let words = |s: &str| -> Vec<String> {
        normalise_header(s)
            .split(' ')
            .map(squash)
            .filter(|w| w.chars().count() >= 3)
            .collect()
    };
    let label_words = words(label);
    names
        .iter()
        .any(|n| {
            let nw = words(n);
            (!label_words.is_empty() && label_words.iter().all(|w| nw.contains(w)))
                || (!nw.is_empty() && nw.iter().all(|w| label_words.contains(w)))
        })
        .then(|| (0.65, "a word it shares with a name".to_owned(), true))
}

/// A column of yes/no words (`v`/`x`, `כן`/`לא`, `1`/`0`): a boolean's values.
fn looks_like_yes_no(values: &[&SCell]) -> bool {
    let distinct: BTreeSet<String> = values
        .iter()
        .filter(|v| !v.text.is_empty())
        .map(|v| v.text.to_lowercase())
        .collect();
    (1..=4).contains(&distinct.len())
        && distinct
            .iter()
            .all(|d| TRUE_WORDS.contains(&d.as_str()) || FALSE_WORDS.contains(&d.as_str()))
        && !distinct.iter().all(|d| d == "0" || d == "1")
}

/// True when a field's values say what it is (a set of values, a pattern, a type stricter
/// than text): only such fields can be recognised by their values.
fn is_telling(field: &Field) -> bool {
    let c = &field.constraints;
    !matches!(field.field_type, FieldType::String | FieldType::Any)
        || c.enumeration.is_some()
        || c.pattern.is_some()
        || field.value_map.is_some()
        || field.pii
}

/// The share of a column's non-empty sample values that the field takes as they are.
fn pass_ratio(values: &[&SCell], field: &Field, missing: &[String]) -> f64 {
    let caster = Caster::new(field, missing);
    let Ok(checks) = Checks::new(field, &caster) else {
        return 0.0;
    };
    let (allowed, known) = spellings(field);
    let (mut ok, mut all) = (0usize, 0usize);
    let mut broken = Vec::new();
    for v in values {
        if v.text.is_empty() {
            continue;
        }
        all += 1;
        match caster.cast(&Cell::Str(&v.text)) {
            Ok(value) => {
                broken.clear();
                checks.check(&value, &mut broken);
                let fits = broken.is_empty()
                    || (broken.iter().all(|b| b.constraint == "enum")
                        && nearest(&v.text, &allowed, &known).is_some());
                if fits {
                    ok += 1;
                }
            }
            // A spelling the draft would map: the column still fits the field.
            Err(CastFail::Unmapped) if nearest(&v.text, &allowed, &known).is_some() => ok += 1,
            Err(_) => {}
        }
    }
    if all == 0 {
        0.0
    } else {
        ok as f64 / all as f64
    }
}

/// An Israeli ID column: 7 to 9 digits, nearly every value.
fn looks_like_ids(values: &[&SCell]) -> bool {
    let filled: Vec<&&SCell> = values.iter().filter(|v| !v.text.is_empty()).collect();
    !filled.is_empty()
        && filled
            .iter()
            .filter(|v| {
                let t = v.text.trim_end_matches(".0");
                (7..=9).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit())
            })
            .count()
            * 10
            >= filled.len() * 9
}

/// The draft: the profile's TOML (with comments), and what validating the file with it says.
#[derive(Debug)]
pub struct Draft {
    /// The commented profile.
    pub toml: String,
    /// Columns matched with less than full confidence, or not at all: what to read first.
    pub doubts: Vec<String>,
}

/// Drafts a profile for `partner`'s files like `path`, for `schema`.
pub fn draft_profile(
    path: &Path,
    file: &str,
    schema: &TableSchema,
    partner: Option<&str>,
    limits: &Limits,
) -> Result<Draft, IngestError> {
    let mut first = sample(path, file, &Profile::default(), None, limits)?;
    // Text: the delimiter under which a row names the most fields (a title line above the
    // header can make the detected one wrong).
    if let Some(detected) = first.delimiter {
        let score = |s: &Sample| header_score(&s.rows, schema).1;
        let mut best = score(&first);
        for d in [",", ";", "tab", "|"] {
            let byte = if d == "tab" { b'\t' } else { d.as_bytes()[0] };
            if byte == detected {
                continue;
            }
            let reading = Profile {
                delimiter: Some(d.to_owned()),
                ..Profile::default()
            };
            if let Ok(s) = sample(path, file, &reading, None, limits) {
                let sc = score(&s);
                if sc > best + 1e-9 {
                    best = sc;
                    first = s;
                }
            }
        }
    }
    // A workbook: the sheet whose header names the most fields (a notes sheet may come
    // first); every sheet with the same header is read.
    let (sheets, sheet_names) = match open_source(path, file, &Profile::default(), limits)?.kind {
        Kind::Sheet(k) => {
            let names = sheet::sheet_names(path, k, file)?;
            let mut best = header_score(&first.rows, schema).1;
            for n in names.iter().take(MAX_SHEETS) {
                if first.sheet.as_deref() == Some(n.as_str()) {
                    continue;
                }
                if let Ok(s) = sample(path, file, &Profile::default(), Some(n), limits) {
                    let sc = header_score(&s.rows, schema).1;
                    if sc > best + 1e-9 {
                        best = sc;
                        first = s;
                    }
                }
            }
            (
                same_header_sheets(path, file, &names, &first, limits),
                names,
            )
        }
        Kind::Text(_) => (Vec::new(), Vec::new()),
    };
    let header_idx = best_header(&first.rows, schema);
    let texts = |i: usize| -> Vec<String> {
        first
            .rows
            .get(i)
            .map(|(_, cells)| cells.iter().map(|c| c.text.clone()).collect())
            .unwrap_or_default()
    };
    let header_row = first.rows.get(header_idx).map_or(0, |(n, _)| *n);
    // A two-row header: a year merged over the months under it (the row below completes the
    // months the header row only spans).
    let periods = |v: &[String]| v.iter().filter(|l| layout::period_of(l).is_some()).count();
    let (upper, lower) = (texts(header_idx), texts(header_idx + 1));
    let combined = layout::combine(&upper, &lower);
    let two_rows = periods(&combined) >= 2 && periods(&combined) >= periods(&upper) + 2;
    let labels = if two_rows { combined } else { upper };
    let data_from = header_idx + if two_rows { 2 } else { 1 };
    // Totals rows are not data: their words are no value of a field.
    let data: Vec<&Vec<SCell>> = first
        .rows
        .iter()
        .skip(data_from)
        .map(|(_, c)| c)
        .filter(|c| !c.iter().any(|c| layout::is_total(&c.text, &[])))
        .collect();
    let column = |c: usize| -> Vec<&SCell> { data.iter().filter_map(|r| r.get(c)).collect() };

    // Months across the columns: a wide sheet.
    let period_cols: Vec<usize> = labels
        .iter()
        .enumerate()
        .filter(|(_, l)| layout::period_of(l).is_some() && !l.trim().is_empty())
        .map(|(c, _)| c)
        .collect();
    let wide = period_cols.len() >= 2;
    let totals_cols: BTreeSet<usize> = labels
        .iter()
        .enumerate()
        .filter(|(_, l)| layout::is_total(l, &[]))
        .map(|(c, _)| c)
        .collect();

    let matches = match_columns(schema, &labels, &column, |c| {
        (wide && period_cols.contains(&c)) || totals_cols.contains(&c)
    });
    let matched_fields: BTreeSet<usize> = matches.iter().map(|m| m.field).collect();
    let unmatched: Vec<usize> = (0..schema.fields.len())
        .filter(|f| !matched_fields.contains(f))
        .collect();

    let mut out = String::new();
    let mut doubts = Vec::new();
    let _ = writeln!(
        out,
        "# Drafted by `backbone profile draft` from {file}. Read it, correct what is wrong, and\n\
         # keep it as pipelines/profiles/<partner>.toml."
    );
    if let Some(p) = partner {
        let _ = writeln!(out, "partner = {}", quote(p));
    }
    let _ = writeln!(out, "schema = {}", quote(&schema.name));
    if let Some(e) = &first.encoding {
        let _ = writeln!(out, "encoding = {}   # detected", quote(&e.to_lowercase()));
    }
    if let Some(d) = first.delimiter {
        let shown = if d == b'\t' {
            "tab".to_owned()
        } else {
            char::from(d).to_string()
        };
        let _ = writeln!(out, "delimiter = {}   # detected", quote(&shown));
    }
    if sheets.len() < 2
        && let Some(s) = &first.sheet
        && sheet_names.len() > 1
    {
        let _ = writeln!(
            out,
            "sheet = {}   # the first sheet with data, of {}",
            quote(s),
            sheet_names.len()
        );
    }
    let _ = writeln!(
        out,
        "header_row = {header_row}   # the row that names the most fields{}{}",
        if two_rows {
            ", with the row under it"
        } else {
            ""
        },
        if header_idx > 0 {
            format!("; {header_idx} row(s) above it skipped")
        } else {
            String::new()
        }
    );
    // Numbers: the separators the file's text numbers use.
    if let Some((decimal, group)) = separators(&matches, schema, &column) {
        let _ = writeln!(
            out,
            "decimal_char = {}   # seen in the numbers",
            quote(&decimal)
        );
        if let Some(g) = group {
            let _ = writeln!(out, "group_char = {}", quote(&g));
        }
    }
    let _ = writeln!(out, "\n# Columns → fields (confidence, and why):");
    for (c, label) in labels.iter().enumerate() {
        if label.is_empty() {
            continue;
        }
        let letter = column_letters(c);
        if let Some(m) = matches.iter().find(|m| m.col == c) {
            let f = &schema.fields[m.field].name;
            let _ = writeln!(
                out,
                "#   {letter} {} → {f}   ({:.2}, by {})",
                quote(label),
                m.confidence,
                m.how
            );
            if m.confidence < 0.9 {
                doubts.push(format!(
                    "column {letter} {} → {f}: {:.2}, by {}",
                    quote(label),
                    m.confidence,
                    m.how
                ));
            }
        } else if totals_cols.contains(&c) {
            let _ = writeln!(
                out,
                "#   {letter} {} → a totals column: left out, checked",
                quote(label)
            );
        } else if wide && period_cols.contains(&c) {
            let _ = writeln!(out, "#   {letter} {} → a month of figures", quote(label));
        } else {
            let _ = writeln!(out, "#   {letter} {} → no field (not read)", quote(label));
            doubts.push(format!("column {letter} {} matches no field", quote(label)));
        }
    }

    // The layout: sheets, and months across.
    let mut layout_lines = Vec::new();
    if two_rows {
        layout_lines.push(
            "header_rows = 2   # a year (or a group) merged over the columns under it".to_owned(),
        );
    }
    if sheets.len() >= 2 {
        let pattern = sheet_pattern(&sheets);
        layout_lines.push(format!(
            "sheets = {}   # {} sheets share this header: {}",
            quote(&pattern),
            sheets.len(),
            sheets
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let date_field = unmatched
            .iter()
            .find(|&&f| is_date(&schema.fields[f]))
            .copied();
        if !wide
            && let Some(f) = date_field
            && sheets.iter().all(|s| layout::period_of(s).is_some())
        {
            layout_lines.push(format!(
                "sheet_to = {}   # each sheet is named for its month",
                quote(&schema.fields[f].name)
            ));
        }
    }
    if wide {
        let names_to = unmatched
            .iter()
            .find(|&&f| is_date(&schema.fields[f]))
            .copied();
        let values_to = unmatched
            .iter()
            .find(|&&f| {
                matches!(
                    schema.fields[f].field_type,
                    FieldType::Integer | FieldType::Number
                )
            })
            .copied();
        match (names_to, values_to) {
            (Some(n), Some(v)) => {
                let keep: Vec<String> = matches
                    .iter()
                    .map(|m| quote(&schema.fields[m.field].name))
                    .collect();
                layout_lines.push(format!(
                    "wide = {{ keep = [{}], names_to = {}, values_to = {} }}   # {} columns are months",
                    keep.join(", "),
                    quote(&schema.fields[n].name),
                    quote(&schema.fields[v].name),
                    period_cols.len()
                ));
            }
            _ => doubts.push(format!(
                "{} columns are months, but the schema has no date field and number field left to take them",
                period_cols.len()
            )),
        }
    }
    if !layout_lines.is_empty() {
        let _ = writeln!(out, "\n[layout]");
        for l in layout_lines {
            let _ = writeln!(out, "{l}");
        }
    }

    // Per field: the label as an alias, value maps, true/false spellings, date formats.
    for m in &matches {
        let field = &schema.fields[m.field];
        let values = column(m.col);
        let mut lines = Vec::new();
        if m.alias {
            lines.push(format!("aliases = [{}]", quote(&labels[m.col])));
        }
        lines.extend(value_lines(
            field,
            schema.missing_values_for(m.field),
            &values,
        ));
        if !lines.is_empty() {
            let _ = writeln!(out, "\n[fields.{}]", field.name);
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    let missing: Vec<&str> = unmatched
        .iter()
        .filter(|&&f| {
            !out.contains(&format!("names_to = {}", quote(&schema.fields[f].name)))
                && !out.contains(&format!("values_to = {}", quote(&schema.fields[f].name)))
                && !out.contains(&format!("sheet_to = {}", quote(&schema.fields[f].name)))
        })
        .map(|&f| schema.fields[f].name.as_str())
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "\n# Fields with no column: {}", missing.join(", "));
        for f in &missing {
            if let Some(i) = schema.field_index(f)
                && (schema.fields[i].constraints.is_required() || schema.primary_key.contains(&i))
            {
                doubts.push(format!("required field {f} has no column"));
            }
        }
    }
    Ok(Draft { toml: out, doubts })
}

pub(crate) fn quote(s: &str) -> String {
    toml_string(s)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_date(f: &Field) -> bool {
    matches!(f.field_type, FieldType::Date | FieldType::Datetime)
}

/// The row (index into `rows`) whose labels name the most fields, by any means.
fn best_header(rows: &[(u64, Vec<SCell>)], schema: &TableSchema) -> usize {
    header_score(rows, schema).0
}

/// The best header row's index and how well it names the schema's fields.
fn header_score(rows: &[(u64, Vec<SCell>)], schema: &TableSchema) -> (usize, f64) {
    let mut best = (0usize, 0.0f64);
    for (i, (_, cells)) in rows.iter().take(HEADER_ROWS).enumerate() {
        let score: f64 = cells
            .iter()
            .filter(|c| !c.text.is_empty())
            .map(|c| {
                schema
                    .fields
                    .iter()
                    .filter_map(|f| by_label(&c.text, f).map(|(s, _, _)| s))
                    .fold(0.0, f64::max)
                    + if layout::period_of(&c.text).is_some() {
                        0.3
                    } else {
                        0.0
                    }
            })
            .sum();
        if score > best.1 + 1e-9 {
            best = (i, score);
        }
    }
    if best.1 == 0.0 {
        let first = rows
            .iter()
            .position(|(_, c)| c.iter().any(|c| !c.text.is_empty()))
            .unwrap_or(0);
        return (first, 0.0);
    }
    best
}

/// Each column to at most one field and each field to at most one column, best first.
fn match_columns<'a>(
    schema: &TableSchema,
    labels: &[String],
    column: &dyn Fn(usize) -> Vec<&'a SCell>,
    skip: impl Fn(usize) -> bool,
) -> Vec<Match> {
    let mut candidates = Vec::new();
    for (c, label) in labels.iter().enumerate() {
        if label.is_empty() || skip(c) {
            continue;
        }
        let values = column(c);
        let ids = looks_like_ids(&values);
        for (f, field) in schema.fields.iter().enumerate() {
            if let Some((score, how, alias)) = by_label(label, field) {
                candidates.push(Match {
                    field: f,
                    col: c,
                    confidence: score,
                    how,
                    alias,
                });
                continue;
            }
            if ids && (field.pii || field.name.ends_with("_id")) {
                candidates.push(Match {
                    field: f,
                    col: c,
                    confidence: 0.65,
                    how: "its values (7- to 9-digit numbers: an ID)".to_owned(),
                    alias: true,
                });
                continue;
            }
            if field.field_type == FieldType::Boolean && looks_like_yes_no(&values) {
                candidates.push(Match {
                    field: f,
                    col: c,
                    confidence: 0.55,
                    how: "its values (yes/no words)".to_owned(),
                    alias: true,
                });
                continue;
            }
            if is_telling(field) {
                let ratio = pass_ratio(&values, field, schema.missing_values_for(f));
                if ratio >= 0.9 {
                    candidates.push(Match {
                        field: f,
                        col: c,
                        confidence: 0.6 * ratio,
                        how: format!(
                            "its values ({:.0}% of them fit {})",
                            ratio * 100.0,
                            field.name
                        ),
                        alias: true,
                    });
                }
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.confidence
            .partial_cmp(&a.confidence)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.col.cmp(&b.col))
    });
    let (mut cols, mut fields) = (BTreeSet::new(), BTreeSet::new());
    let mut out = Vec::new();
    for m in candidates {
        if cols.contains(&m.col) || fields.contains(&m.field) {
            continue;
        }
        cols.insert(m.col);
        fields.insert(m.field);
        out.push(m);
    }
    out.sort_by_key(|m| m.col);
    out
}

const TRUE_WORDS: &[&str] = &["v", "✓", "✔", "+", "y", "yes", "true", "1", "כ", "כן", "t"];
const FALSE_WORDS: &[&str] = &["x", "✗", "✘", "n", "no", "false", "0", "ל", "לא", "f"];

/// What a matched column's values need: a value map for unknown spellings, true/false
/// spellings, date formats by evidence.
fn value_lines(field: &Field, missing: &[String], values: &[&SCell]) -> Vec<String> {
    let caster = Caster::new(field, missing);
    let checks = Checks::new(field, &caster).ok();
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad_dates = Vec::new();
    let mut broken = Vec::new();
    for v in values {
        if v.text.is_empty() {
            continue;
        }
        match caster.cast(&Cell::Str(&v.text)) {
            Ok(value) => {
                broken.clear();
                if let Some(c) = &checks {
                    c.check(&value, &mut broken);
                }
                if broken.iter().any(|b| b.constraint == "enum") {
                    *unknown.entry(v.text.clone()).or_default() += 1;
                }
            }
            Err(CastFail::Unmapped) => *unknown.entry(v.text.clone()).or_default() += 1,
            Err(CastFail::Type) if is_date(field) && !v.typed => bad_dates.push(v.text.as_str()),
            Err(CastFail::Type) if field.field_type == FieldType::Boolean => {
                *unknown.entry(v.text.clone()).or_default() += 1;
            }
            Err(_) => {}
        }
    }
    let mut lines = Vec::new();
    if field.field_type == FieldType::Boolean {
        let (mut yes, mut no, mut other) = (Vec::new(), Vec::new(), Vec::new());
        for u in unknown.keys() {
            let l = u.to_lowercase();
            if TRUE_WORDS.contains(&l.as_str()) {
                yes.push(quote(u));
            } else if FALSE_WORDS.contains(&l.as_str()) {
                no.push(quote(u));
            } else {
                other.push(quote(u));
            }
        }
        if !yes.is_empty() {
            lines.push(format!("true_values = [{}]", yes.join(", ")));
        }
        if !no.is_empty() {
            lines.push(format!("false_values = [{}]", no.join(", ")));
        }
        if !other.is_empty() {
            lines.push(format!(
                "# not recognised as yes or no: {}",
                other.join(", ")
            ));
        }
        return lines;
    }
    if !unknown.is_empty() {
        let (allowed, known) = spellings(field);
        let mut map = Vec::new();
        for (u, n) in &unknown {
            let target = nearest(u, &allowed, &known);
            match target {
                Some(t) => map.push(format!("{} = {}", quote(u), quote(&t))),
                None => map.push(format!(
                    "# {} = ?   ({n} row(s); not recognised: give the value it means)",
                    quote(u)
                )),
            }
        }
        let (set, unset): (Vec<&String>, Vec<&String>) =
            map.iter().partition(|l| !l.starts_with('#'));
        if !set.is_empty() {
            lines.push(format!(
                "value_map = {{ {} }}   # spellings not in the schema",
                set.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        lines.extend(unset.into_iter().cloned());
    }
    if !bad_dates.is_empty()
        && let Some((format, why)) = date_format(&bad_dates)
    {
        lines.push(format!("date_formats = [{}]   # {why}", quote(&format)));
    }
    lines
}

/// A field's allowed values and its value map's spellings.
fn spellings(field: &Field) -> (Vec<String>, Vec<(String, String)>) {
    let allowed = match &field.constraints.enumeration {
        Some(e) => e.value.clone(),
        None => Vec::new(),
    };
    let known = field
        .value_map
        .as_ref()
        .map(|m| m.entries.clone())
        .unwrap_or_default();
    (allowed, known)
}

/// The canonical value a partner's spelling most likely means: a value of the enum or of the
/// value map by spelling or transliteration.
fn nearest(spelling: &str, allowed: &[String], known: &[(String, String)]) -> Option<String> {
    let s = squash(spelling);
    let t = skeleton(&transliterate(spelling));
    let mut best: Option<(f64, String)> = None;
    let mut consider = |score: f64, target: &str| {
        if score >= 0.75 && best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, target.to_owned()));
        }
    };
    for a in allowed {
        consider(similarity(&squash(a), &s), a);
        consider(similarity(&skeleton(&transliterate(a)), &t), a);
    }
    for (k, v) in known {
        consider(similarity(&squash(k), &s), v);
        if s.chars().count() >= 2 && squash(k).starts_with(&s) {
            consider(0.8, v);
        }
    }
    best.map(|(_, v)| v)
}

/// The date format of dates written as text, by evidence: a part above 12 is the day.
fn date_format(values: &[&str]) -> Option<(String, String)> {
    let mut sep = None;
    let (mut first_big, mut second_big, mut year_first, mut short_year, mut n) =
        (false, false, false, false, 0);
    for v in values {
        let v = v.split_whitespace().next().unwrap_or_default();
        let s = v.chars().find(|c| !c.is_ascii_digit())?;
        let parts: Vec<&str> = v.split(s).collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || p.parse::<u32>().is_err())
        {
            continue;
        }
        sep.get_or_insert(s);
        n += 1;
        let nums: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        if parts[0].len() == 4 {
            year_first = true;
            continue;
        }
        short_year |= parts[2].len() == 2;
        first_big |= nums[0] > 12;
        second_big |= nums[1] > 12;
    }
    let sep = sep?;
    if n == 0 {
        return None;
    }
    let y = if short_year { "%y" } else { "%Y" };
    Some(if year_first {
        (format!("%Y{sep}%m{sep}%d"), "year first".to_owned())
    } else if second_big && !first_big {
        (
            format!("%m{sep}%d{sep}{y}"),
            "month first: a second part above 12".to_owned(),
        )
    } else if first_big {
        (
            format!("%d{sep}%m{sep}{y}"),
            "day first: a first part above 12".to_owned(),
        )
    } else {
        (
            format!("%d{sep}%m{sep}{y}"),
            "day first assumed: no part above 12 to tell".to_owned(),
        )
    })
}

/// The decimal and thousands separators of the numbers written as text, when they are not
/// the schema's (`1.234,5` and `12,5`: a decimal comma).
fn separators<'a>(
    matches: &[Match],
    schema: &TableSchema,
    column: &dyn Fn(usize) -> Vec<&'a SCell>,
) -> Option<(String, Option<String>)> {
    let (mut comma_decimal, mut dot_group) = (0, 0);
    for m in matches {
        let f = &schema.fields[m.field];
        if !matches!(f.field_type, FieldType::Number | FieldType::Integer) {
            continue;
        }
        for v in column(m.col) {
            if v.typed {
                continue;
            }
            let t = v.text.as_str();
            if let Some((int, frac)) = t.rsplit_once(',')
                && (1..=2).contains(&frac.len())
                && frac.chars().all(|c| c.is_ascii_digit())
                && int
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            {
                comma_decimal += 1;
                if int.contains('.') {
                    dot_group += 1;
                }
            }
        }
    }
    (comma_decimal > 0).then(|| (",".to_owned(), (dot_group > 0).then(|| ".".to_owned())))
}

/// Sheets (besides the first) whose header row is the first sheet's.
fn same_header_sheets(
    path: &Path,
    file: &str,
    names: &[String],
    first: &Sample,
    limits: &Limits,
) -> Vec<String> {
    if names.len() < 2 {
        return Vec::new();
    }
    let header_of = |rows: &[(u64, Vec<SCell>)]| -> Option<Vec<String>> {
        rows.iter()
            .take(HEADER_ROWS)
            .map(|(_, c)| c)
            .find(|c| c.iter().filter(|c| !c.text.is_empty()).count() >= 2)
            .map(|c| {
                c.iter()
                    .map(|c| {
                        if layout::period_of(&c.text).is_some() {
                            "<period>".to_owned()
                        } else {
                            normalise_header(&c.text)
                        }
                    })
                    .collect()
            })
    };
    let Some(reference) = header_of(&first.rows) else {
        return Vec::new();
    };
    names
        .iter()
        .take(MAX_SHEETS)
        .filter(|n| {
            sample(path, file, &Profile::default(), Some(n), limits)
                .ok()
                .and_then(|s| header_of(&s.rows))
                .is_some_and(|h| h == reference)
        })
        .cloned()
        .collect()
}

/// A pattern that matches these sheet names: their common start, then `*`.
fn sheet_pattern(sheets: &[String]) -> String {
    let Some(first) = sheets.first() else {
        return "*".to_owned();
    };
    let mut prefix: Vec<char> = first.chars().collect();
    for s in &sheets[1..] {
        let common = prefix
            .iter()
            .zip(s.chars())
            .take_while(|(a, b)| **a == *b)
            .count();
        prefix.truncate(common);
    }
    let p: String = prefix.into_iter().collect();
    // Stop at a word's end: `רבעון 1 2024` and `רבעון 2 2024` share `רבעון `.
    let cut = p.rfind(' ').map_or(p.len(), |i| i + 1);
    format!("{}*", &p[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_order_by_evidence() {
        assert_eq!(
            date_format(&["03/01/2024", "13/01/2024"]).unwrap().0,
            "%d/%m/%Y"
        );
        assert_eq!(
            date_format(&["01/13/2024", "01/03/2024"]).unwrap().0,
            "%m/%d/%Y"
        );
        assert_eq!(date_format(&["2024.01.03"]).unwrap().0, "%Y.%m.%d");
        assert_eq!(date_format(&["03.01.24"]).unwrap().0, "%d.%m.%y");
        assert!(date_format(&["03.01.24"]).unwrap().1.contains("assumed"));
    }

    #[test]
    fn labels_by_spelling_and_transliteration() {
        let f = |name: &str, aliases: &[&str]| {
            let mut field = Field::new(name, FieldType::String);
            field.aliases = aliases.iter().map(|a| (*a).to_owned()).collect();
            field
        };
        assert_eq!(by_label("ת\"ז", &f("person_id", &["ת.ז."])).unwrap().0, 0.9);
        assert!(
            by_label("סטטוס", &f("status", &[]))
                .unwrap()
                .1
                .contains("translit")
        );
        assert!(by_label("Gendr", &f("gender", &[])).is_some());
        assert!(by_label("אזור", &f("gender", &[])).is_none());
    }

    #[test]
    fn sheet_patterns_stop_at_a_word() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            sheet_pattern(&s(&["רבעון 1 2024", "רבעון 2 2024"])),
            "רבעון *"
        );
        assert_eq!(sheet_pattern(&s(&["ינואר 2024", "פברואר 2024"])), "*");
    }
}
