//! The one placement rule: which table and period a partner's file is for, or why it cannot
//! be taken. `backbone ingest`, the nightly run and the upload portal all ask [`place`], so a
//! file one of them refuses is refused by the others, in the same words.

use std::fmt;

use backbone_schema::{Grain, Initiative};

use crate::period::Period;

/// What is known of a file when it is placed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    /// The partner it came from (the inbox folder, the signed-in partner, `--partner`).
    pub partner: &'a str,
    /// Its file name (a table or a period may be read from it).
    pub file_name: &'a str,
    /// The table, when someone said (`--schema`, the form's `schema`).
    pub schema: Option<&'a str>,
    /// The period, when someone said (`--period`, the form's `period`).
    pub period: Option<&'a str>,
    /// The data manager's own ingest may take a reference table (one no obligation names,
    /// such as a population from the statistics office) from any well-formed source id, at
    /// any whole period. Partners' files never may.
    pub reference_ok: bool,
}

/// Where a file goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The table (schema name).
    pub schema: String,
    /// The period.
    pub period: Period,
}

/// Why a file cannot be placed. [`Refusal::say`] words it for a partner in their language;
/// `Display` is the English.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A partner id that cannot be a folder or an id.
    BadPartnerId {
        /// As given.
        partner: String,
    },
    /// Not a partner of the initiative.
    NotAPartner {
        /// As given.
        partner: String,
        /// The initiative's partners.
        partners: Vec<String>,
    },
    /// The partner owes nothing.
    OwesNothing {
        /// The partner.
        partner: String,
    },
    /// The partner does not send this table.
    NotSent {
        /// The partner.
        partner: String,
        /// The table named.
        schema: String,
        /// The tables it does send.
        tables: Vec<String>,
    },
    /// The partner sends several tables and nothing says which.
    WhichTable {
        /// The partner.
        partner: String,
        /// The tables it sends.
        tables: Vec<String>,
    },
    /// What was given is not a whole period at the grain owed.
    NotAPeriod {
        /// As given.
        period: String,
        /// The table.
        schema: String,
        /// The grain owed.
        grain: Grain,
    },
    /// Nothing says which period.
    WhichPeriod {
        /// The file's name.
        file_name: String,
        /// The grain owed.
        grain: Grain,
    },
    /// A reference table's period is not a whole period of any grain.
    NotAnyPeriod {
        /// As given.
        period: String,
    },
    /// The period is outside the obligation's window.
    Outside {
        /// The partner.
        partner: String,
        /// The table.
        schema: String,
        /// The first period owed.
        from: String,
        /// The last period owed, if the obligation ends.
        to: Option<String>,
        /// The period refused.
        period: String,
    },
}

impl Refusal {
    /// The refusal in `lang` (`he`; anything else is English), with left-to-right values
    /// isolated in Hebrew so ids and periods read right in a right-to-left sentence.
    pub fn say(&self, lang: &str) -> String {
        let he = lang.eq_ignore_ascii_case("he");
        let v = |s: &str| {
            if he {
                format!("\u{2066}{s}\u{2069}")
            } else {
                s.to_owned()
            }
        };
        match self {
            Self::BadPartnerId { partner } => {
                if he {
                    format!(
                        "מזהה שותף הוא אותיות לטיניות, ספרות, `_` ו-`-`, לא {}",
                        v(partner)
                    )
                } else {
                    format!("a partner id is letters, digits, `_` and `-`, not `{partner}`")
                }
            }
            Self::NotAPartner { partner, partners } => {
                if he {
                    format!(
                        "{} אינו שותף ביוזמה (השותפים: {})",
                        v(partner),
                        v(&partners.join(", "))
                    )
                } else {
                    format!(
                        "`{partner}` is not a partner in pipelines/initiative.toml (its partners: {})",
                        partners.join(", ")
                    )
                }
            }
            Self::OwesNothing { partner } => {
                if he {
                    format!(
                        "השותף {} אינו חייב בנתונים (אף התחייבות אינה מזכירה אותו).",
                        v(partner)
                    )
                } else {
                    format!("{partner} owes no data (no obligation names it)")
                }
            }
            Self::NotSent {
                partner,
                schema,
                tables,
            } => {
                if he {
                    format!(
                        "השותף {} אינו שולח את {}; הטבלאות שהוא שולח: {}",
                        v(partner),
                        v(schema),
                        v(&tables.join(", "))
                    )
                } else {
                    format!(
                        "{partner} does not send `{schema}`; the tables it sends: {}",
                        tables.join(", ")
                    )
                }
            }
            Self::WhichTable { partner, tables } => {
                if he {
                    format!(
                        "השותף {} שולח כמה טבלאות ({}): תנו לקובץ שם שמכיל אחת מהן, או ציינו אותה (השדה {})",
                        v(partner),
                        v(&tables.join(", ")),
                        v("schema")
                    )
                } else {
                    format!(
                        "{partner} sends several tables ({}): name the file after one of them, or say which (field `schema`)",
                        tables.join(", ")
                    )
                }
            }
            Self::NotAPeriod {
                period,
                schema,
                grain,
            } => {
                if he {
                    format!(
                        "{} אינה תקופה של {}, שמדווחת לפי {}: כתבו אותה כמו {}",
                        v(period),
                        v(schema),
                        grain_he(*grain),
                        v(grain.example())
                    )
                } else {
                    format!(
                        "`{period}` is not a period of `{schema}`, which is reported by {}: write it like {}",
                        grain_en(*grain),
                        grain.example()
                    )
                }
            }
            Self::WhichPeriod { file_name, grain } => {
                let example = format!("report_{}.csv", grain.example());
                if he {
                    format!(
                        "לא ברור איזו תקופה {} מכסה: כתבו אותה בשם הקובץ, למשל {}, או ציינו אותה (השדה {}, למשל {})",
                        v(file_name),
                        v(&example),
                        v("period"),
                        v(grain.example())
                    )
                } else {
                    format!(
                        "cannot tell which period `{file_name}` covers: put it in the name, e.g. `{example}`, or say it (field `period`, like {})",
                        grain.example()
                    )
                }
            }
            Self::NotAnyPeriod { period } => {
                if he {
                    format!(
                        "{} אינה תקופה: כתבו אותה כמו {}",
                        v(period),
                        v("2024-03, 2024-Q1, 2024-H1, 2024")
                    )
                } else {
                    format!(
                        "`{period}` is not a period: write it like 2024-03, 2024-Q1, 2024-H1 or 2024"
                    )
                }
            }
            Self::Outside {
                partner,
                schema,
                from,
                to,
                period,
            } => match (he, to) {
                (true, Some(to)) => format!(
                    "השותף {} מדווח על {} מ-{} עד {}; {} מחוץ לטווח.",
                    v(partner),
                    v(schema),
                    v(from),
                    v(to),
                    v(period)
                ),
                (true, None) => format!(
                    "השותף {} מדווח על {} מ-{}; {} מחוץ לטווח.",
                    v(partner),
                    v(schema),
                    v(from),
                    v(period)
                ),
                (false, Some(to)) => {
                    format!("{partner} reports `{schema}` from {from} to {to}; {period} is outside")
                }
                (false, None) => {
                    format!("{partner} reports `{schema}` from {from}; {period} is outside")
                }
            },
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.say("en"))
    }
}

fn grain_en(g: Grain) -> &'static str {
    match g {
        Grain::Month => "month",
        Grain::Quarter => "quarter",
        Grain::HalfYear => "half-year",
        Grain::Year => "year",
    }
}

fn grain_he(g: Grain) -> &'static str {
    match g {
        Grain::Month => "חודש",
        Grain::Quarter => "רבעון",
        Grain::HalfYear => "חצי שנה",
        Grain::Year => "שנה",
    }
}

/// Whether `id` can be a partner id: letters, digits, `_` and `-` (it names folders).
pub fn is_partner_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The table and period of a partner's file, or why it cannot be taken:
/// - the partner must be a declared partner that owes something (or, for the data manager's
///   reference tables, any well-formed id);
/// - the table is the one named, which the partner must owe; else the only one it owes; else
///   the one whose name is in the file name;
/// - the period is the one named, which must be a whole period at the grain owed; else the one
///   in the file name;
/// - and it must lie within the obligation's `from`/`to` window.
pub fn place(initiative: &Initiative, request: &Request<'_>) -> Result<Placement, Refusal> {
    let partner = request.partner;
    if !is_partner_id(partner) {
        return Err(Refusal::BadPartnerId {
            partner: partner.to_owned(),
        });
    }
    let named = request.schema.map(str::trim).filter(|s| !s.is_empty());
    let named_period = request.period.map(str::trim).filter(|p| !p.is_empty());
    // A reference table: no obligation names it.
    if let Some(schema) = named
        && request.reference_ok
        && !initiative.obligations.iter().any(|o| o.schema == schema)
    {
        let period = named_period
            .and_then(Period::parse)
            .ok_or_else(|| Refusal::NotAnyPeriod {
                period: named_period.unwrap_or_default().to_owned(),
            })?;
        return Ok(Placement {
            schema: schema.to_owned(),
            period,
        });
    }
    if initiative.partner(partner).is_none() {
        return Err(Refusal::NotAPartner {
            partner: partner.to_owned(),
            partners: initiative.partners.iter().map(|p| p.id.clone()).collect(),
        });
    }
    let owed = initiative.schemas_of(partner);
    let tables = || owed.iter().map(|(s, _)| (*s).to_owned()).collect();
    let (schema, grain): (&str, Grain) = match (named, owed.as_slice()) {
        (_, []) => {
            return Err(Refusal::OwesNothing {
                partner: partner.to_owned(),
            });
        }
        (Some(s), _) => *owed
            .iter()
            .find(|(o, _)| *o == s)
            .ok_or_else(|| Refusal::NotSent {
                partner: partner.to_owned(),
                schema: s.to_owned(),
                tables: tables(),
            })?,
        (None, [one]) => *one,
        (None, many) => *many
            .iter()
            .find(|(s, _)| request.file_name.contains(s))
            .ok_or_else(|| Refusal::WhichTable {
                partner: partner.to_owned(),
                tables: tables(),
            })?,
    };
    let period = match named_period {
        Some(p) => Period::parse_at(grain, p).ok_or_else(|| Refusal::NotAPeriod {
            period: p.to_owned(),
            schema: schema.to_owned(),
            grain,
        })?,
        None => Period::find_in(grain, request.file_name).ok_or_else(|| Refusal::WhichPeriod {
            file_name: request.file_name.to_owned(),
            grain,
        })?,
    };
    let obligation = initiative.obligations.iter().find(|o| {
        o.schema == schema && (o.partners.is_empty() || o.partners.iter().any(|p| p == partner))
    });
    if let Some(o) = obligation {
        let from = Period::parse(&o.from);
        let to = o.to.as_deref().and_then(Period::parse);
        if from.is_some_and(|f| period.before(f)) || to.is_some_and(|t| period.after(t)) {
            return Err(Refusal::Outside {
                partner: partner.to_owned(),
                schema: schema.to_owned(),
                from: o.from.clone(),
                to: o.to.clone(),
                period: period.label(),
            });
        }
    }
    Ok(Placement {
        schema: schema.to_owned(),
        period,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initiative() -> Initiative {
        let toml = r#"
name = { he = "י", en = "I" }
[[partner]]
id = "shelter"
name = { he = "מקלט", en = "Shelter" }
[[partner]]
id = "police"
name = { he = "משטרה", en = "Police" }
[[partner]]
id = "idle"
name = { he = "x", en = "x" }
[[obligation]]
partners = ["shelter"]
schema = "service_records"
grain = "month"
from = "2024-01"
to = "2024-12"
[[obligation]]
partners = ["police"]
schema = "service_records"
grain = "month"
from = "2024-03"
[[obligation]]
partners = ["police"]
schema = "incidents"
grain = "quarter"
from = "2024-Q1"
"#;
        match Initiative::from_toml(toml, "initiative.toml") {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }

    fn place_file(partner: &str, file: &str) -> Result<String, String> {
        let i = initiative();
        place(
            &i,
            &Request {
                partner,
                file_name: file,
                ..Request::default()
            },
        )
        .map(|p| format!("{} {}", p.schema, p.period))
        .map_err(|r| r.to_string())
    }

    #[test]
    fn the_table_and_period_come_from_the_name_or_what_was_said() {
        assert_eq!(
            place_file("shelter", "shelter_2024-03.csv").as_deref(),
            Ok("service_records 2024-03")
        );
        assert_eq!(
            place_file("police", "incidents 2024_q2.xlsx").as_deref(),
            Ok("incidents 2024-Q2")
        );
        let i = initiative();
        let said = place(
            &i,
            &Request {
                partner: "police",
                file_name: "anything.csv",
                schema: Some("service_records"),
                period: Some(" 2024-05 "),
                reference_ok: false,
            },
        );
        assert_eq!(said.map(|p| p.period.label()), Ok("2024-05".to_owned()));
    }

    #[test]
    fn refusals_say_why() {
        let e = |p: &str, f: &str| place_file(p, f).err().unwrap_or_default();
        assert!(e("nobody", "x_2024-03.csv").contains("not a partner"));
        assert!(e("idle", "x_2024-03.csv").contains("owes no data"));
        assert!(e("police", "x_2024-03.csv").contains("sends several tables"));
        assert!(e("shelter", "x.csv").contains("cannot tell which period `x.csv` covers"));
        assert!(e("../etc", "x.csv").contains("partner id"));
        assert_eq!(
            e("shelter", "shelter_2025-01.csv"),
            "shelter reports `service_records` from 2024-01 to 2024-12; 2025-01 is outside"
        );
        assert_eq!(
            e("shelter", "shelter_2023-12.csv"),
            "shelter reports `service_records` from 2024-01 to 2024-12; 2023-12 is outside"
        );
        assert_eq!(
            e("police", "incidents_2023-Q4.csv"),
            "police reports `incidents` from 2024-Q1; 2023-Q4 is outside"
        );
    }

    #[test]
    fn reference_tables_only_for_the_data_manager() {
        let i = initiative();
        let mut r = Request {
            partner: "cbs",
            file_name: "population.csv",
            schema: Some("population"),
            period: Some("2024"),
            reference_ok: true,
        };
        assert_eq!(place(&i, &r).map(|p| p.period.label()), Ok("2024".into()));
        r.reference_ok = false;
        assert!(matches!(place(&i, &r), Err(Refusal::NotAPartner { .. })));
    }

    #[test]
    fn hebrew_isolates_values() {
        let r = Refusal::Outside {
            partner: "shelter".into(),
            schema: "service_records".into(),
            from: "2024-01".into(),
            to: None,
            period: "2023-12".into(),
        };
        assert_eq!(
            r.say("he"),
            "השותף \u{2066}shelter\u{2069} מדווח על \u{2066}service_records\u{2069} מ-\u{2066}2024-01\u{2069}; \u{2066}2023-12\u{2069} מחוץ לטווח."
        );
    }
}
