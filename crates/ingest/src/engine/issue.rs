//! An issue's words: where it is (row, column letter, field), what was found, and what a
//! valid value looks like; personal-data values never quoted.

use super::*;

pub(super) struct IssueCtx<'a> {
    pub(super) sheet: Option<&'a str>,
    /// The row's cells do not line up with the header (a CSV row with more or fewer cells):
    /// any cell may be another column's, personal data included, so none is quoted.
    pub(super) misaligned: bool,
    /// The row's personal-data values as written: a value equal to one is never quoted,
    /// whatever column it is in.
    pub(super) personal: Vec<String>,
    #[allow(dead_code)]
    pub(super) encoding: &'a str,
    #[allow(dead_code)]
    pub(super) max_cell: usize,
}

impl IssueCtx<'_> {
    /// An issue with its message: where (row, the partner's column name, cell reference),
    /// then what; the value is never shown for personal-data fields.
    pub(super) fn build(
        &self,
        at: &At<'_>,
        kind: ErrorType,
        severity: Severity,
        cell: Option<&Cell<'_>>,
        note: String,
        detail: &dyn Fn(&str) -> String,
    ) -> Issue {
        let pii = at.field.is_some_and(|f| f.pii);
        let shown = if pii || self.misaligned {
            None
        } else {
            cell.map(Cell::display)
                .filter(|s| !self.personal.iter().any(|p| p == s.trim()))
        };
        let quoted = match &shown {
            Some(s) => format!("{s:?}"),
            None if self.misaligned && !pii && cell.is_some() => {
                "the value (not quoted: the row's cells do not line up with the header's)"
                    .to_owned()
            }
            None => "the value".to_owned(),
        };
        let label = at
            .label
            .map(str::to_owned)
            .or_else(|| at.field.and_then(|f| f.label.clone()));
        let cell_ref = match (self.sheet, at.col) {
            (Some(_), Some(c)) if at.row > 0 => Some(format!("{}{}", column_letters(c), at.row)),
            _ => None,
        };
        let mut message = String::new();
        if at.row > 0 {
            message.push_str(&format!("Row {}", at.row));
            match (&label, at.col) {
                (Some(l), _) => message.push_str(&format!(", column {l:?}")),
                (None, Some(c)) => message.push_str(&format!(", column {}", c + 1)),
                _ => {}
            }
            if let Some(r) = &cell_ref {
                message.push_str(&format!(" ({r})"));
            }
            message.push_str(": ");
        }
        message.push_str(&detail(&quoted));
        let expected = match kind {
            ErrorType::TypeError
            | ErrorType::ConstraintError
            | ErrorType::ValueMapError
            | ErrorType::MissingCell => at.field.map(|f| f.expected.clone()),
            ErrorType::UniqueError | ErrorType::PrimaryKey => {
                Some(Expected::of(ExpectedKind::Unique))
            }
            _ => None,
        };
        Issue {
            kind,
            severity,
            row_number: (at.row > 0).then_some(at.row),
            field_name: at.field.map(|f| f.name.clone()),
            field_number: at.col.map(|c| c + 1),
            label,
            cell: shown,
            message,
            note,
            expected: expected.as_ref().map(ToString::to_string),
            expected_parts: expected,
            sheet: self.sheet.map(str::to_owned),
            cell_ref,
        }
    }
}

pub(super) fn constraint_detail(constraint: &str, shown: &str, v: &str) -> String {
    match constraint {
        "enum" => {
            let list: Vec<&str> = shown.split(", ").collect();
            if list.len() > 12 {
                format!("{v} is not one of the {} allowed values", list.len())
            } else {
                format!("{v} is not one of the allowed values ({shown})")
            }
        }
        "minimum" => format!("{v} is less than the minimum, {shown}"),
        "maximum" => format!("{v} is more than the maximum, {shown}"),
        "exclusiveMinimum" => format!("{v} must be more than {shown}"),
        "exclusiveMaximum" => format!("{v} must be less than {shown}"),
        "minLength" => format!("{v} is shorter than {shown} characters"),
        "maxLength" => format!("{v} is longer than {shown} characters"),
        "pattern" => format!("{v} does not have the expected form ({shown})"),
        other => format!("{v} breaks the constraint {other} ({shown})"),
    }
}

/// What a valid value looks like, from the type and the constraints.
pub(super) fn expected_of(caster: &Caster, checks: &Checks) -> Expected {
    if let Some(spellings) = caster.spellings() {
        return Expected::of(spellings);
    }
    if let Some(e) = &checks.enumeration {
        let list: Vec<&str> = e.shown.split(", ").collect();
        if list.len() <= 12 {
            return Expected::of(ExpectedKind::OneOf {
                values: e.shown.clone(),
                or: None,
            });
        }
    }
    Expected {
        kind: caster.expected(),
        lower: (checks.minimum.as_ref())
            .or(checks.exclusive_minimum.as_ref())
            .map(|l| l.shown.clone()),
        upper: (checks.maximum.as_ref())
            .or(checks.exclusive_maximum.as_ref())
            .map(|l| l.shown.clone()),
        min_length: checks.min_length.as_ref().map(|l| l.shown.clone()),
        max_length: checks.max_length.as_ref().map(|l| l.shown.clone()),
        pattern: checks.pattern.as_ref().map(|p| p.shown.clone()),
    }
}
