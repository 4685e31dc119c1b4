use super::*;

fn err(json: &str) -> String {
    TableSchema::from_json_str(json, "s.json")
        .unwrap_err()
        .to_string()
}

#[test]
fn broken_schemas_name_the_json_path() {
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a"}, {"name": "b", "type": "integr"}]}"#),
        @r#"s.json: $.fields[1].type: type "integr" is not supported; use one of string, integer, number, boolean, date, datetime, year, yearmonth, any"#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a", "type": "boolean", "constraints": {"maximum": "x"}}]}"#),
        @r#"s.json: $.fields[0].constraints.maximum: expected a bound for a boolean field"#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a", "type": "integer", "constraints": {"maximum": "x"}}]}"#),
        @r#"s.json: $.fields[0].constraints.maximum: expected a number, found "x""#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a", "constraints": {"pattern": "(["}}]}"#).lines().next().unwrap(),
        @"s.json: $.fields[0].constraints.pattern: not a valid regular expression: regex parse error:");
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a"}], "fieldsMatch": "some"}"#),
        @r#"s.json: $.fieldsMatch: fieldsMatch "some" is not one of exact, equal, subset, superset, partial"#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a"}], "primaryKey": ["b"]}"#),
        @r#"s.json: $.primaryKey: "b" is not a field of this schema"#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a"}, {"name": "a"}]}"#),
        @r#"s.json: $.fields[1].name: field name "a" is declared twice"#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a", "x-aliases": ["B"]}, {"name": "b"}]}"#),
        @r#"s.json: $.fields[1]: header "b" would match both "a" and "b""#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "d", "type": "date"}], "x-rules": ["d >= e"]}"#),
        @r#"s.json: $.x-rules[0]: "e" is not a field of this schema (quote a constant: 'e')"#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "d", "type": "date"}, {"name": "n", "type": "integer"}], "x-rules": ["d >= n"]}"#),
        @r#"s.json: $.x-rules[0]: "d >= n" compares d (date) with n (integer); a rule compares values of one kind"#);
    insta::assert_snapshot!(err(r#"{"fields": [{"name": "a",}]}"#),
        @"s.json: not valid JSON at line 1, column 26: trailing comma");
    insta::assert_snapshot!(err(r#"{"fields": {"name": "a"}}"#),
        @"s.json: $.fields: expected a list, found an object");
}

#[test]
fn properties_outside_the_standard_load_and_are_listed() {
    // The standard lets a descriptor carry other properties; frictionless loads them.
    let s = TableSchema::from_json_str(
        r#"{"tablename": "t", "fields": [
            {"name": "a", "properties": {"x": 1}, "constraints": {"requird": true}},
            {"name": "b", "type": "string", "format": "email"}],
            "primaryKey": ["a"]}"#,
        "s.json",
    )
    .unwrap();
    assert_eq!(
        s.unknown,
        [
            "$.fields[0].properties",
            "$.fields[0].constraints.requird",
            "$.tablename"
        ]
    );
    // A primary-key field is required, as the standard says, with no `required` written.
    assert!(s.fields[0].constraints.is_required());
    assert!(!s.fields[1].constraints.is_required());
    assert_eq!(s.fields[1].string_format, Some(StringFormat::Email));
    assert_eq!(s.fields_match, FieldsMatch::ByName);
    let s = TableSchema::from_json_str(
        r#"{"fields": [{"name": "a", "type": "datetime", "format": "any"}], "fieldsMatch": "subset"}"#,
        "s.json",
    )
    .unwrap();
    assert_eq!(s.fields_match, FieldsMatch::Subset);
    assert!(
        s.fields[0]
            .formats
            .iter()
            .any(|f| f == "%Y-%m-%dT%H:%M:%S%z")
    );
    assert!(s.fields[0].formats.iter().any(|f| f == "%d/%m/%Y"));
}

#[test]
fn reads_frictionless_and_extension_keys() {
    let s = TableSchema::from_json_str(
        r#"{
          "name": "svc",
          "missingValues": ["", "NA"],
          "primaryKey": "id",
          "uniqueKeys": [["person", "day"]],
          "fields": [
            {"name": "id", "constraints": {"required": true}},
            {"name": "person", "x-pii": true},
            {"name": "day", "type": "date", "format": "fmt:%d/%m/%Y",
             "constraints": {"minimum": "2020-01-01"}},
            {"name": "age", "type": "integer",
             "constraints": {"maximum": {"value": 110, "severity": "warning"}, "minimum": 0}},
            {"name": "g", "categories": ["female", {"value": "male", "label": "Male"}],
             "x-valueMap": {"map": {"נקבה": "female"}, "unmapped": "error"}},
            {"name": "ok", "type": "boolean", "trueValues": ["כן"], "falseValues": ["לא"]},
            {"name": "amount", "type": "number", "decimalChar": ",", "groupChar": ".", "bareNumber": false},
            {"name": "later", "type": "date", "x-severity": {"minimum": "warning"},
             "constraints": {"minimum": "2020-01-01"}}
          ],
          "x-rules": [{"rule": "later >= day", "severity": "warning", "message": "later before day"},
                      "age < '200'"]
        }"#,
        "svc.json",
    )
    .unwrap();
    assert_eq!(s.name, "svc");
    assert_eq!(s.primary_key, vec![0]);
    assert_eq!(s.unique_keys, vec![vec![1, 2]]);
    assert!(s.fields[1].pii);
    assert_eq!(s.fields[2].formats, ["%d/%m/%Y"]);
    assert_eq!(
        s.fields[3].constraints.maximum.as_ref().unwrap().severity,
        Severity::Warning
    );
    assert_eq!(
        s.fields[3].constraints.minimum.as_ref().unwrap().severity,
        Severity::Error
    );
    assert_eq!(
        s.fields[4].constraints.enumeration.as_ref().unwrap().value,
        ["female", "male"]
    );
    assert_eq!(
        s.fields[4].value_map.as_ref().unwrap().unmapped,
        Unmapped::Error
    );
    assert_eq!(s.fields[6].decimal_char, ",");
    assert!(!s.fields[6].bare_number);
    assert_eq!(
        s.fields[7].constraints.minimum.as_ref().unwrap().severity,
        Severity::Warning
    );
    assert_eq!(s.rules[0].op, CmpOp::Ge);
    assert_eq!(s.rules[0].rhs, Operand::Field(2));
    assert_eq!(s.rules[1].rhs, Operand::Literal("200".into()));
    assert_eq!(s.missing_values, ["", "NA"]);
}

#[test]
fn profile_merges_into_schema() {
    let s = TableSchema::from_json_str(
        r#"{"fields": [{"name": "day", "type": "date"}, {"name": "g", "x-valueMap": {"F": "female"}},
                       {"name": "n", "type": "number"}]}"#,
        "s.json",
    )
    .unwrap();
    let p = Profile::from_toml(
        "encoding = \"windows-1255\"\ndelimiter = \";\"\ndecimal_char = \",\"\ndate_formats = [\"%d.%m.%Y\"]\n\
         [fields.g]\naliases = [\"מין\"]\nvalue_map = { \"נ\" = \"female\" }\n",
        "p.toml",
    )
    .unwrap();
    assert_eq!(p.delimiter_byte(), Some(b';'));
    let m = s.with_profile(&p, "p.toml").unwrap();
    assert_eq!(m.fields[0].formats, ["%d.%m.%Y", "%Y-%m-%d"]);
    assert_eq!(m.fields[1].aliases, ["מין"]);
    assert_eq!(
        m.fields[1].value_map.as_ref().unwrap().entries[0],
        ("נ".into(), "female".into())
    );
    assert_eq!(m.fields[2].decimal_char, ",");

    let bad = Profile::from_toml("[fields.nope]\naliases = []\n", "p.toml").unwrap();
    insta::assert_snapshot!(s.with_profile(&bad, "p.toml").unwrap_err(),
        @r#"p.toml: fields.nope: "nope" is not a field of schema "s""#);
    insta::assert_snapshot!(Profile::from_toml("encodng = \"x\"\n", "p.toml").unwrap_err().to_string().lines().next().unwrap(),
        @"p.toml: not valid TOML at line 1, column 1: unknown field `encodng`, expected one of `partner`, `schema`, `encoding`, `delimiter`, `sheet`, `header_row`, `date_formats`, `decimal_char`, `group_char`, `missing_values`, `fields`, `period`, `files`, `layout`");
}

#[test]
fn header_normalisation_ignores_invisible_marks_and_spacing() {
    assert_eq!(normalise_header("  Record\u{a0}ID\u{200e}"), "record id");
    assert_eq!(normalise_header("record-id"), "record id");
    assert_eq!(normalise_header("ＡＧＥ"), "age");
}

#[test]
fn retention_spans_read_as_written_and_say_what_is_wrong() {
    use crate::{Initiative, Span};
    let i = Initiative::from_toml(
        "name = { he = \"x\", en = \"x\" }\n[retention]\nraw_files = \"7 years\"\nsuperseded_files = \"18 months\"\n",
        "initiative.toml",
    )
    .unwrap();
    assert_eq!(i.retention.raw_files, Some(Span::Months(84)));
    assert_eq!(i.retention.superseded_files, Some(Span::Months(18)));
    assert_eq!(Span::parse("6 weeks"), Some(Span::Days(42)));
    assert_eq!(Span::parse("1 day"), Some(Span::Days(1)));
    assert_eq!(Span::parse("seven years"), None);
    assert_eq!(Span::Months(84).to_string(), "7 years");
    assert_eq!(Span::Days(30).to_string(), "30 days");
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-31T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(
        Span::Months(1).before(now).to_rfc3339(),
        "2026-02-28T12:00:00+00:00"
    );
    let err = Initiative::from_toml(
        "name = { he = \"x\", en = \"x\" }\n[retention]\nraw_files = \"forever\"\n",
        "initiative.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("\"forever\" is not a length of time"), "{err}");
    assert!(err.contains("initiative.toml"), "{err}");
    assert_eq!(
        Initiative::from_toml("name = { he = \"x\", en = \"x\" }\n", "i.toml")
            .unwrap()
            .retention,
        crate::Retention::default()
    );
}

#[test]
fn layout_is_checked_against_the_schema() {
    let s = TableSchema::from_json_str(
        r#"{"name": "s", "fields": [{"name": "region"}, {"name": "month", "type": "date"},
            {"name": "n", "type": "integer"}]}"#,
        "s.json",
    )
    .unwrap();
    let ok = Profile::from_toml(
        "[layout]\nheader_rows = 2\nwide = { keep = [\"region\"], names_to = \"month\", values_to = \"n\" }\n",
        "p.toml",
    )
    .unwrap();
    assert!(s.with_profile(&ok, "p.toml").is_ok());
    assert!(!ok.layout.is_plain());
    let typo = Profile::from_toml(
        "[layout]\nwide = { keep = [\"regoin\"], names_to = \"month\", values_to = \"n\" }\n",
        "p.toml",
    )
    .unwrap();
    insta::assert_snapshot!(s.with_profile(&typo, "p.toml").unwrap_err(),
        @r#"p.toml: layout.wide: "regoin" is not a field of schema "s""#);
    insta::assert_snapshot!(Profile::from_toml(
        "[layout]\nwide = { names_to = [\"a\", \"b\"], values_to = \"n\" }\n", "p.toml").unwrap_err(),
        @"p.toml: layout.wide.names_to: two fields take their names from two header rows: set header_rows = 2");
    insta::assert_snapshot!(Profile::from_toml(
        "[layout]\nheader_rows = 3\n", "p.toml").unwrap_err(),
        @"p.toml: layout.header_rows: 3: a header of 1 or 2 rows is read");
    insta::assert_snapshot!(Profile::from_toml(
        "[layout]\nwide = { keep = [\"n\"], names_to = \"month\", values_to = \"n\" }\n", "p.toml").unwrap_err(),
        @r#"p.toml: layout.wide: "n" is named twice among keep, names_to and values_to"#);
}

#[test]
fn aggregate_tables_are_marked() {
    let s = TableSchema::from_json_str(
        r#"{"name": "s", "x-aggregate": true, "fields": [{"name": "n", "type": "integer"}]}"#,
        "s.json",
    )
    .unwrap();
    assert!(s.aggregate);
    assert!(s.unknown.is_empty());
}

#[test]
fn counting_an_aggregate_tables_rows_is_refused() {
    let agg = TableSchema::from_json_str(
        r#"{"name": "referrals_by_region", "x-aggregate": true, "fields": [
            {"name": "region"}, {"name": "month", "type": "date"},
            {"name": "referrals", "type": "integer"}]}"#,
        "s.json",
    )
    .unwrap();
    let schemas: std::collections::BTreeMap<String, TableSchema> =
        [(agg.name.clone(), agg)].into_iter().collect();
    let indicators = crate::indicators_from_toml(
        r#"
[[indicator]]
id = "regions"
label = { en = "Regions" }
schema = "referrals_by_region"
kind = "distinct_count"
field = "region"
date_field = "month"
grain = "month"

[[indicator]]
id = "referrals"
label = { en = "Referrals" }
schema = "referrals_by_region"
kind = "sum"
field = "referrals"
date_field = "month"
grain = "month"
"#,
        "i.toml",
    )
    .unwrap();
    let errors = indicators[0].check("i.toml", 0, &schemas, &["regions", "referrals"]);
    insta::assert_snapshot!(errors[0].to_string(),
        @r#"i.toml: indicator[0] (regions).kind: referrals_by_region is an aggregate table (x-aggregate): each row is a figure that already counts many, so counting its rows or distinct values counts cells, not people; use kind = "sum" over its figure field"#);
    assert!(
        indicators[1]
            .check("i.toml", 1, &schemas, &["regions", "referrals"])
            .is_empty()
    );
}
