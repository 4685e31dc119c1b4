//! Indicator definitions (`pipelines/indicators/*.toml`) and the initiative's declarations
//! (`pipelines/initiative.toml`): what the partnership agreed to measure, and who owes which
//! data when. Parsed here, cross-checked against the schemas by [`Indicator::check`], computed
//! by the metrics crate.
//!
//! ```toml
//! [[indicator]]
//! id = "people_reached"
//! label = { he = "אנשים שקיבלו שירות", en = "People reached" }
//! schema = "service_records"
//! kind = "distinct_count"
//! field = "person_id"
//! date_field = "referral_date"
//! grain = "quarter"
//! dimensions = ["region", "age_band"]
//! bands.age_band = { field = "age", edges = [18, 30, 45, 65] }
//! filter = "service_type <> 'hotline'"
//! direction = "up"
//! baseline = { period = "2024-Q1", value = 120 }
//! targets = [{ period = "2025-Q4", value = 200 }]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{SchemaError, read_declaration, toml_error};
use crate::table::{FieldType, TableSchema};

/// A text in any number of languages: `{ he = "…", ar = "…", en = "…" }` (language codes
/// of two or three lowercase letters). The initiative's `languages` fill a missing language
/// from the first in its order that has the text (`Text::complete`), so a reader asking for
/// a declared language finds one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        for k in map.keys() {
            if !(2..=3).contains(&k.len()) || !k.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(serde::de::Error::custom(format!(
                    "{k:?} is not a language code (he, ar, en, …)"
                )));
            }
        }
        Ok(Self(map))
    }
}

impl Text {
    /// A text from (language, text) pairs.
    pub fn of(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .filter(|(_, t)| !t.is_empty())
                .map(|(l, t)| ((*l).to_owned(), (*t).to_owned()))
                .collect(),
        )
    }

    /// The text in `lang`; else English, Hebrew, then any language that has it.
    pub fn get(&self, lang: &str) -> &str {
        [lang, "en", "he"]
            .iter()
            .find_map(|l| self.0.get(*l).filter(|t| !t.is_empty()))
            .or_else(|| self.0.values().find(|t| !t.is_empty()))
            .map_or("", String::as_str)
    }

    /// The text in exactly `lang`, if it has one.
    pub fn exactly(&self, lang: &str) -> Option<&str> {
        self.0
            .get(lang)
            .map(String::as_str)
            .filter(|t| !t.is_empty())
    }

    /// No text in any language.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(String::is_empty)
    }

    /// Fills each of `languages` that has no text with the first of `languages`, in order,
    /// that has one.
    pub fn complete(&mut self, languages: &[String]) {
        let Some(first) = languages
            .iter()
            .find_map(|l| self.exactly(l).map(str::to_owned))
        else {
            return;
        };
        for l in languages {
            if self.exactly(l).is_none() {
                self.0.insert(l.clone(), first.clone());
            }
        }
    }
}

/// What an indicator (or one side of a ratio) counts.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Rows.
    Count,
    /// Distinct values of `field` (unduplicated people, through the pseudonymous key).
    DistinctCount,
    /// The sum of `field`.
    Sum,
    /// The mean of `field`.
    Mean,
    /// `numerator / denominator × factor`.
    Ratio,
    /// `numerator / population × factor`, the population from a reference table.
    Rate,
    /// Arithmetic over other indicators of the same period and breakdown.
    Derived,
}

impl Kind {
    /// The name as written in declarations.
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::DistinctCount => "distinct_count",
            Self::Sum => "sum",
            Self::Mean => "mean",
            Self::Ratio => "ratio",
            Self::Rate => "rate",
            Self::Derived => "derived",
        }
    }

    /// Whether the value is a count of rows or people (subject to small-cell suppression).
    pub fn is_count(self) -> bool {
        matches!(self, Self::Count | Self::DistinctCount)
    }
}

/// The period length results are computed for.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    /// `2024-03`.
    Month,
    /// `2024-Q1`.
    Quarter,
    /// `2024-H1`.
    HalfYear,
    /// `2024`.
    Year,
}

impl Grain {
    /// Months in one period.
    pub fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::HalfYear => 6,
            Self::Year => 12,
        }
    }

    /// An example period label at this grain, for messages.
    pub fn example(self) -> &'static str {
        match self {
            Self::Month => "2024-03",
            Self::Quarter => "2024-Q1",
            Self::HalfYear => "2024-H1",
            Self::Year => "2024",
        }
    }
}

/// Which way is good.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More is better.
    #[default]
    Up,
    /// Less is better.
    Down,
}

/// One side of a ratio or rate.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// `count`, `distinct_count`, `sum` or `mean`.
    pub kind: Kind,
    /// The field summed, averaged or counted distinct.
    pub field: Option<String>,
    /// A boolean SQL expression over the schema's fields.
    pub filter: Option<String>,
    /// Another schema than the indicator's.
    pub schema: Option<String>,
    /// Another date field than the indicator's.
    pub date_field: Option<String>,
}

/// Age bands and the like: a numeric field cut at edges. Edges `[18, 65]` give `<18`,
/// `18-64`, `65+`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// The numeric field.
    pub field: String,
    /// Increasing edges.
    pub edges: Vec<f64>,
}

impl Band {
    /// The band label of a value.
    pub fn label(&self, v: f64) -> String {
        let fmt = |x: f64| {
            if x.fract() == 0.0 {
                format!("{}", x as i64)
            } else {
                format!("{x}")
            }
        };
        let Some(first) = self.edges.first() else {
            return "all".into();
        };
        if v < *first {
            return format!("<{}", fmt(*first));
        }
        for w in self.edges.windows(2) {
            if v >= w[0] && v < w[1] {
                // Integer edges read as inclusive ranges: 18-29.
                return if w[0].fract() == 0.0 && w[1].fract() == 0.0 {
                    format!("{}-{}", fmt(w[0]), fmt(w[1] - 1.0))
                } else {
                    format!("{}-{}", fmt(w[0]), fmt(w[1]))
                };
            }
        }
        format!("{}+", fmt(*self.edges.last().unwrap_or(first)))
    }
}

/// A value at a period.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeriodValue {
    /// The period label (`2025-Q4`).
    pub period: String,
    /// The value.
    pub value: f64,
    /// For a target: the breakdown it applies to (`region=צפון`); the total when absent.
    #[serde(default)]
    pub breakdown: Option<String>,
}

/// A reference population for a rate: a table ingested like any other.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// The reference schema (e.g. population by region and year).
    pub schema: String,
    /// Its numeric field holding the population.
    pub field: String,
    /// Its field holding the year the population is for.
    pub year_field: String,
}

/// One indicator.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// Stable id (`people_reached`).
    pub id: String,
    /// Name for people.
    pub label: Text,
    /// What it means and how it is computed, for the methods section.
    #[serde(default)]
    pub description: Text,
    /// The schema whose rows it is computed from.
    pub schema: String,
    /// What it computes.
    pub kind: Kind,
    /// The field summed, averaged or counted distinct.
    pub field: Option<String>,
    /// A boolean SQL expression over the schema's fields (polars SQL).
    pub filter: Option<String>,
    /// Ratio and rate: the numerator.
    pub numerator: Option<Measure>,
    /// Ratio: the denominator.
    pub denominator: Option<Measure>,
    /// Rate: the reference population.
    pub population: Option<Population>,
    /// Ratio and rate: multiplied in (100 for a percentage, 1000 per thousand).
    #[serde(default)]
    pub factor: Option<f64>,
    /// Derived: arithmetic over other indicators' ids (`a + b`, `a / b * 100`).
    pub formula: Option<String>,
    /// The date field that places a row in a period.
    pub date_field: Option<String>,
    /// The period length.
    pub grain: Grain,
    /// Breakdowns: schema fields or band names.
    #[serde(default)]
    pub dimensions: Vec<String>,
    /// Bands derived from numeric fields.
    #[serde(default)]
    pub bands: BTreeMap<String, Band>,
    /// Which way is good.
    #[serde(default)]
    pub direction: Direction,
    /// Small-cell threshold; the initiative's when absent.
    pub threshold: Option<u64>,
    /// Where it started.
    pub baseline: Option<PeriodValue>,
    /// Where the partnership wants it.
    #[serde(default)]
    pub targets: Vec<PeriodValue>,
    /// Unit for people (`%`, `per 1,000`).
    #[serde(default)]
    pub unit: Option<String>,
    /// Later definitions of what it counts, each in force from a period on
    /// (`[[indicator.version]]`); the fields above are its first definition. The file is the
    /// history: `git diff` shows each change.
    #[serde(default, rename = "version")]
    pub versions: Vec<IndicatorVersion>,
}

/// A later definition of an indicator: what changes, from when, why, and whether the series
/// before it is recomputed under it. Only what it names changes; the rest is the previous
/// definition's. Its grain, dimensions and id cannot change (a series at another grain, or
/// by other breakdowns, is another indicator).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndicatorVersion {
    /// The first period it applies to (`2024-07`, `2024-Q3`): from the first period of the
    /// indicator's grain that starts on or after it.
    pub since: String,
    /// Why the definition changed, for the report's footnote and `backbone check`.
    #[serde(default)]
    pub reason: Text,
    /// `true`: the whole series is computed under this definition (no break); `false`: the
    /// periods before `since` keep the previous definition and the series breaks there.
    #[serde(default)]
    pub backcast: bool,
    /// What it computes.
    pub kind: Option<Kind>,
    /// The field summed, averaged or counted distinct.
    pub field: Option<String>,
    /// The filter (`""`: none).
    pub filter: Option<String>,
    /// A ratio's or rate's numerator.
    pub numerator: Option<Measure>,
    /// A ratio's denominator.
    pub denominator: Option<Measure>,
    /// A rate's reference population.
    pub population: Option<Population>,
    /// Multiplied in.
    pub factor: Option<f64>,
    /// A derived indicator's formula.
    pub formula: Option<String>,
    /// The date field that places a row in a period.
    pub date_field: Option<String>,
    /// Bands derived from numeric fields.
    pub bands: Option<BTreeMap<String, Band>>,
}

/// A file of indicators.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorFile {
    #[serde(default)]
    indicator: Vec<Indicator>,
}

/// Parses a file of `[[indicator]]` tables.
pub fn indicators_from_toml(text: &str, file: &str) -> Result<Vec<Indicator>, SchemaError> {
    let parsed: IndicatorFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    Ok(parsed.indicator)
}

/// Reads every `*.toml` in a folder of indicators, in name order, each with its file.
pub fn load_indicators(dir: &Path) -> Result<Vec<(String, Indicator)>, SchemaError> {
    let io = |source| SchemaError::Io {
        file: dir.display().to_string(),
        source,
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let (file, text) = read_declaration(&path)?;
        for i in indicators_from_toml(&text, &file)? {
            out.push((file.clone(), i));
        }
    }
    Ok(out)
}

impl Indicator {
    /// How many definitions it has had (1 without `[[indicator.version]]`).
    pub fn definitions(&self) -> u32 {
        u32::try_from(self.versions.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }

    /// Definition `n` (1 is the first) as an indicator of its own, without versions: the
    /// first definition with versions 2..=n applied in turn. Past the last, the last.
    pub fn definition(&self, n: u32) -> Indicator {
        let mut out = self.clone();
        out.versions = Vec::new();
        for v in self.versions.iter().take(n.saturating_sub(1) as usize) {
            if let Some(k) = v.kind {
                out.kind = k;
            }
            if let Some(f) = &v.field {
                out.field = Some(f.clone());
            }
            if let Some(f) = &v.filter {
                out.filter = Some(f.clone()).filter(|f| !f.trim().is_empty());
            }
            if let Some(m) = &v.numerator {
                out.numerator = Some(m.clone());
            }
            if let Some(m) = &v.denominator {
                out.denominator = Some(m.clone());
            }
            if let Some(p) = &v.population {
                out.population = Some(p.clone());
            }
            if let Some(f) = v.factor {
                out.factor = Some(f);
            }
            if let Some(f) = &v.formula {
                out.formula = Some(f.clone());
            }
            if let Some(f) = &v.date_field {
                out.date_field = Some(f.clone());
            }
            if let Some(b) = &v.bands {
                out.bands = b.clone();
            }
        }
        out
    }

    /// What definition `n` changed from definition `n - 1`, one line per property, in English
    /// (`numerator: count WHERE a → count WHERE b`). Empty for the first.
    pub fn changes(&self, n: u32) -> Vec<String> {
        if n < 2 {
            return Vec::new();
        }
        let (a, b) = (self.definition(n - 1), self.definition(n));
        let text = |v: Option<&str>| v.map_or_else(|| "none".to_owned(), |s| format!("`{s}`"));
        let measure = |m: Option<&Measure>| match m {
            None => "none".to_owned(),
            Some(m) => {
                let mut s = format!("{:?}", m.kind).to_lowercase();
                if let Some(f) = &m.field {
                    s.push_str(&format!(" of {f}"));
                }
                if let Some(t) = &m.schema {
                    s.push_str(&format!(" in {t}"));
                }
                if let Some(f) = &m.filter {
                    s.push_str(&format!(" WHERE `{f}`"));
                }
                if let Some(d) = &m.date_field {
                    s.push_str(&format!(" dated by {d}"));
                }
                s
            }
        };
        let mut out = Vec::new();
        let mut diff = |what: &str, x: String, y: String| {
            if x != y {
                out.push(format!("{what}: {x} → {y}"));
            }
        };
        diff(
            "kind",
            format!("{:?}", a.kind).to_lowercase(),
            format!("{:?}", b.kind).to_lowercase(),
        );
        diff("field", text(a.field.as_deref()), text(b.field.as_deref()));
        diff(
            "filter",
            text(a.filter.as_deref()),
            text(b.filter.as_deref()),
        );
        diff(
            "numerator",
            measure(a.numerator.as_ref()),
            measure(b.numerator.as_ref()),
        );
        diff(
            "denominator",
            measure(a.denominator.as_ref()),
            measure(b.denominator.as_ref()),
        );
        let pop = |p: Option<&Population>| {
            p.map_or_else(
                || "none".to_owned(),
                |p| format!("{}.{}", p.schema, p.field),
            )
        };
        diff(
            "population",
            pop(a.population.as_ref()),
            pop(b.population.as_ref()),
        );
        diff(
            "factor",
            format!("{:?}", a.factor),
            format!("{:?}", b.factor),
        );
        diff(
            "formula",
            text(a.formula.as_deref()),
            text(b.formula.as_deref()),
        );
        diff(
            "date field",
            text(a.date_field.as_deref()),
            text(b.date_field.as_deref()),
        );
        diff("bands", format!("{:?}", a.bands), format!("{:?}", b.bands));
        out
    }

    /// The effective date field of one side.
    pub fn date_field_of<'a>(&'a self, m: Option<&'a Measure>) -> Option<&'a str> {
        m.and_then(|m| m.date_field.as_deref())
            .or(self.date_field.as_deref())
    }

    /// Checks the indicator against the schemas it reads and the other indicators' ids.
    /// Every problem is reported, each with its file and key (`indicator[2].numerator.field`).
    pub fn check(
        &self,
        file: &str,
        index: usize,
        schemas: &BTreeMap<String, TableSchema>,
        ids: &[&str],
    ) -> Vec<SchemaError> {
        let mut out = Vec::new();
        let at = |key: &str| format!("indicator[{index}] ({}).{key}", self.id);
        let mut err = |key: &str, message: String| {
            out.push(SchemaError::Invalid {
                file: file.to_owned(),
                path: at(key),
                message,
            });
        };
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            err("id", "use letters, digits and _ only".into());
        }
        if self.label.is_empty() {
            err("label", "give a label in at least one language".into());
        }
        let Some(schema) = schemas.get(&self.schema) else {
            err(
                "schema",
                format!(
                    "no schema {:?} in data-schemas/ (there are: {})",
                    self.schema,
                    schemas.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            return out;
        };
        for (name, band) in &self.bands {
            match schema.fields.iter().find(|f| f.name == band.field) {
                None => err(
                    &format!("bands.{name}.field"),
                    format!("{:?} is not a field of {}", band.field, schema.name),
                ),
                Some(f) if !matches!(f.field_type, FieldType::Integer | FieldType::Number) => err(
                    &format!("bands.{name}.field"),
                    format!("{:?} is not numeric; bands cut numbers", band.field),
                ),
                Some(_) => {}
            }
            if band.edges.is_empty() || band.edges.windows(2).any(|w| w[0] >= w[1]) {
                err(
                    &format!("bands.{name}.edges"),
                    "give increasing edges, e.g. [18, 30, 65]".into(),
                );
            }
        }
        // Each side of the indicator: (key prefix, schema, kind, field, date field).
        let mut sides: Vec<(String, Option<&Measure>)> = Vec::new();
        match self.kind {
            Kind::Ratio => {
                for (key, m) in [
                    ("numerator", &self.numerator),
                    ("denominator", &self.denominator),
                ] {
                    match m {
                        Some(m) => sides.push((key.into(), Some(m))),
                        None => err(key, format!("a ratio needs a {key}")),
                    }
                }
            }
            Kind::Rate => {
                match &self.numerator {
                    Some(m) => sides.push(("numerator".into(), Some(m))),
                    None => err("numerator", "a rate needs a numerator".into()),
                }
                match &self.population {
                    None => err("population", "a rate needs a reference population".into()),
                    Some(p) => match schemas.get(&p.schema) {
                        None => err(
                            "population.schema",
                            format!("no schema {:?} in data-schemas/", p.schema),
                        ),
                        Some(ps) => {
                            for (key, f) in [("field", &p.field), ("year_field", &p.year_field)] {
                                if !ps.fields.iter().any(|x| &x.name == f) {
                                    err(
                                        &format!("population.{key}"),
                                        format!("{f:?} is not a field of {}", ps.name),
                                    );
                                }
                            }
                            for d in &self.dimensions {
                                if !ps.fields.iter().any(|x| &x.name == d) {
                                    err(
                                        "dimensions",
                                        format!(
                                            "{d:?} is not in the population table {}: a rate can only be broken down by what the population is broken down by",
                                            ps.name
                                        ),
                                    );
                                }
                            }
                        }
                    },
                }
            }
            Kind::Derived => {
                match &self.formula {
                    None => err("formula", "a derived indicator needs a formula".into()),
                    Some(f) => {
                        for word in formula_ids(f) {
                            if word == self.id {
                                err("formula", "an indicator cannot use itself".into());
                            } else if !ids.contains(&word.as_str()) {
                                err(
                                    "formula",
                                    format!("{word:?} is not the id of another indicator"),
                                );
                            }
                        }
                    }
                }
                return out;
            }
            _ => sides.push((String::new(), None)),
        }
        for (key, m) in sides {
            let prefix = |k: &str| {
                if key.is_empty() {
                    k.to_owned()
                } else {
                    format!("{key}.{k}")
                }
            };
            let side_schema_name = m.and_then(|m| m.schema.as_deref()).unwrap_or(&self.schema);
            let Some(s) = schemas.get(side_schema_name) else {
                err(
                    &prefix("schema"),
                    format!("no schema {side_schema_name:?} in data-schemas/"),
                );
                continue;
            };
            let kind = m.map_or(self.kind, |m| m.kind);
            let field = m.map_or(self.field.as_deref(), |m| m.field.as_deref());
            if s.aggregate && kind.is_count() {
                err(
                    &prefix("kind"),
                    format!(
                        "{} is an aggregate table (x-aggregate): each row is a figure that \
                         already counts many, so counting its rows{} counts cells, not people; \
                         use kind = \"sum\" over its figure field",
                        s.name,
                        if kind == Kind::DistinctCount {
                            " or distinct values"
                        } else {
                            ""
                        }
                    ),
                );
            }
            if !kind.is_count() && !matches!(kind, Kind::Sum | Kind::Mean) {
                err(
                    &prefix("kind"),
                    "a side of a ratio counts, counts distinct, sums or averages".into(),
                );
            }
            match (kind, field) {
                (Kind::Count | Kind::Ratio | Kind::Rate | Kind::Derived, _) => {}
                (Kind::DistinctCount, None) => err(
                    &prefix("field"),
                    "a distinct_count needs the field that identifies a unit (the person's key)"
                        .into(),
                ),
                (Kind::Sum | Kind::Mean, None) => {
                    err(&prefix("field"), format!("a {} needs a field", kind.name()));
                }
                (_, Some(f)) => match s.fields.iter().find(|x| x.name == f) {
                    None => err(
                        &prefix("field"),
                        format!("{f:?} is not a field of {}", s.name),
                    ),
                    Some(x)
                        if matches!(kind, Kind::Sum | Kind::Mean)
                            && !matches!(x.field_type, FieldType::Integer | FieldType::Number) =>
                    {
                        err(
                            &prefix("field"),
                            format!("{f:?} is not numeric; a {} needs a number", kind.name()),
                        );
                    }
                    Some(_) => {}
                },
            }
            match self.date_field_of(m) {
                None => err(
                    &prefix("date_field"),
                    "name the date field that places a row in a period".into(),
                ),
                Some(d) => match s.fields.iter().find(|x| x.name == d) {
                    None => err(
                        &prefix("date_field"),
                        format!("{d:?} is not a field of {}", s.name),
                    ),
                    Some(x) if !matches!(x.field_type, FieldType::Date | FieldType::Datetime) => {
                        err(&prefix("date_field"), format!("{d:?} is not a date field"));
                    }
                    Some(_) => {}
                },
            }
            for d in &self.dimensions {
                let known = s.fields.iter().any(|x| &x.name == d)
                    || self
                        .bands
                        .get(d)
                        .is_some_and(|b| s.fields.iter().any(|x| x.name == b.field))
                    || d == "partner";
                if !known {
                    let side = if key.is_empty() {
                        String::new()
                    } else {
                        format!(" (the {key}'s schema)")
                    };
                    err(
                        "dimensions",
                        format!(
                            "{d:?} is neither a field of {}{side} nor a band; every side must have every dimension",
                            s.name
                        ),
                    );
                }
            }
        }
        if matches!(self.kind, Kind::Ratio | Kind::Rate) && self.factor.is_some_and(|f| f <= 0.0) {
            err("factor", "a factor is a positive number (100, 1000)".into());
        }
        out
    }
}

/// The identifiers a derived formula uses, each once, in order of appearance.
pub fn formula_ids(formula: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in formula.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            cur.push(c);
        } else {
            if !cur.is_empty()
                && !cur.chars().all(|c| c.is_ascii_digit() || c == '.')
                && !out.contains(&cur)
            {
                out.push(cur.clone());
            }
            cur.clear();
        }
    }
    out
}

/// A partner of the initiative.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// Stable id (the inbox folder name).
    pub id: String,
    /// Name for people.
    pub name: Text,
    /// Sector (shelter, hotline, welfare, police, health).
    #[serde(default)]
    pub sector: String,
    /// Region.
    #[serde(default)]
    pub region: String,
    /// Who to write to about missing or bad files.
    #[serde(default)]
    pub contact: String,
    /// The language of the partner's receipts (`he`, `ar`, `en`: one of the initiative's
    /// `languages`).
    #[serde(default = "hebrew")]
    pub language: String,
}

fn hebrew() -> String {
    "he".into()
}

/// Who owes which schema, how often, and by when.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Obligation {
    /// Partner ids; empty means every partner.
    #[serde(default)]
    pub partners: Vec<String>,
    /// The schema owed.
    pub schema: String,
    /// How often.
    pub grain: Grain,
    /// The first period owed (`2024-01`).
    pub from: String,
    /// The last period owed; open-ended when absent.
    pub to: Option<String>,
    /// Days after a period's end by which the file is due.
    #[serde(default = "ten")]
    pub due_days: u32,
}

fn ten() -> u32 {
    10
}

/// The initiative: its name, partners, obligations and disclosure threshold.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Initiative {
    /// Name for people.
    pub name: Text,
    /// The first month of the reporting year (1 = January).
    #[serde(default = "one")]
    pub first_month: u32,
    /// Counts below this are suppressed (zero is not).
    #[serde(default = "ten_u64")]
    pub threshold: u64,
    /// The partners.
    #[serde(default, rename = "partner")]
    pub partners: Vec<Partner>,
    /// Who owes what.
    #[serde(default, rename = "obligation")]
    pub obligations: Vec<Obligation>,
    /// The partners' upload service (`backbone serve`).
    #[serde(default)]
    pub portal: Portal,
    /// How long the store keeps what the current numbers no longer need (`backbone vacuum`).
    #[serde(default)]
    pub retention: Retention,
    /// The languages the initiative publishes and receipts in, in its fallback order: a text
    /// missing in one is taken from the first before or after it that has it
    /// (`["he", "ar", "en"]`; default Hebrew and English).
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
}

fn default_languages() -> Vec<String> {
    vec!["he".to_owned(), "en".to_owned()]
}

/// How long what the current numbers no longer need is kept (`[retention]` in
/// `initiative.toml`); `backbone vacuum` applies it. Absent: kept for ever.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Raw partner files (`archive/`, `processed/`), counted from the last time a file was
    /// received: `"7 years"`.
    pub raw_files: Option<Span>,
    /// Data files no longer in the current version (superseded submissions, compacted files),
    /// counted from when they left it. Reading the store as it was before that (`--as-of`) is
    /// given up: `"2 years"`.
    pub superseded_files: Option<Span>,
}

/// A length of time in whole days or calendar months: `"30 days"`, `"6 weeks"`,
/// `"18 months"`, `"7 years"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Span {
    /// Days.
    Days(u32),
    /// Calendar months.
    Months(u32),
}

impl Span {
    /// Parses `"<n> days|weeks|months|years"` (singular too).
    pub fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let n: u32 = words.next()?.parse().ok()?;
        let unit = words.next()?;
        if words.next().is_some() {
            return None;
        }
        match unit.trim_end_matches('s') {
            "day" => Some(Self::Days(n)),
            "week" => n.checked_mul(7).map(Self::Days),
            "month" => Some(Self::Months(n)),
            "year" => n.checked_mul(12).map(Self::Months),
            _ => None,
        }
    }

    /// The moment this long before `now`.
    pub fn before(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self {
            Self::Days(d) => now - chrono::Duration::days(i64::from(d)),
            Self::Months(m) => now
                .checked_sub_months(chrono::Months::new(m))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Days(1) => f.write_str("1 day"),
            Self::Days(d) => write!(f, "{d} days"),
            Self::Months(m) if m % 12 == 0 && *m >= 12 => match m / 12 {
                1 => f.write_str("1 year"),
                y => write!(f, "{y} years"),
            },
            Self::Months(1) => f.write_str("1 month"),
            Self::Months(m) => write!(f, "{m} months"),
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a length of time: write \"30 days\", \"6 weeks\", \"18 months\" or \"7 years\""
            ))
        })
    }
}

/// What the upload portal does with a file and what it shows partners (`[portal]` in
/// `initiative.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Portal {
    /// `true`: an uploaded file is ingested at once (a run starts after each upload);
    /// `false` (default): it waits in the inbox for the nightly run.
    pub ingest_at_once: bool,
    /// Partners may open the committee report (`reports/latest`).
    pub share_report: bool,
    /// Partners may open their own data-quality page (default: yes).
    pub share_quality: bool,
    /// The largest upload, in megabytes.
    pub max_upload_mb: u64,
    /// Uploads one partner may make in an hour.
    pub uploads_per_hour: u32,
}

impl Default for Portal {
    fn default() -> Self {
        Self {
            ingest_at_once: false,
            share_report: false,
            share_quality: true,
            max_upload_mb: 50,
            uploads_per_hour: 30,
        }
    }
}

fn one() -> u32 {
    1
}

fn ten_u64() -> u64 {
    10
}

impl Initiative {
    /// Parses `initiative.toml`.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, SchemaError> {
        let mut i: Self = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
        if i.languages.is_empty() {
            i.languages = default_languages();
        }
        for (n, p) in i.partners.iter().enumerate() {
            if !i.languages.contains(&p.language) {
                return Err(SchemaError::Invalid {
                    file: file.to_owned(),
                    path: format!("partner[{n}].language"),
                    message: format!(
                        "{:?} is not one of the initiative's languages ({}); add it to `languages`",
                        p.language,
                        i.languages.join(", ")
                    ),
                });
            }
        }
        let languages = i.languages.clone();
        i.name.complete(&languages);
        for p in &mut i.partners {
            p.name.complete(&languages);
        }
        if !(1..=12).contains(&i.first_month) {
            return Err(SchemaError::Invalid {
                file: file.to_owned(),
                path: "first_month".into(),
                message: "a month number, 1 to 12".into(),
            });
        }
        for (n, o) in i.obligations.iter().enumerate() {
            for p in &o.partners {
                if !i.partners.iter().any(|x| &x.id == p) {
                    return Err(SchemaError::Invalid {
                        file: file.to_owned(),
                        path: format!("obligation[{n}].partners"),
                        message: format!("{p:?} is not a partner declared in this file"),
                    });
                }
            }
        }
        Ok(i)
    }

    /// Reads and parses `initiative.toml`.
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let (file, text) = read_declaration(path)?;
        Self::from_toml(&text, &file)
    }

    /// The partner with this id.
    pub fn partner(&self, id: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// The schemas a partner owes, with their grain, in declaration order.
    pub fn schemas_of(&self, partner: &str) -> Vec<(&str, Grain)> {
        let mut out: Vec<(&str, Grain)> = Vec::new();
        for o in &self.obligations {
            if (o.partners.is_empty() || o.partners.iter().any(|p| p == partner))
                && !out.iter().any(|(s, _)| *s == o.schema)
            {
                out.push((o.schema.as_str(), o.grain));
            }
        }
        out
    }
}
