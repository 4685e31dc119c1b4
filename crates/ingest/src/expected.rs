//! What a valid value looks like, kept in parts so that a receipt can say it in the partner's
//! language. `Display` is the English sentence the validation report carries as `expected`.

use std::fmt;

/// The kind of value a field takes (a receipt renders each; new kinds may follow).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedKind {
    /// One of a listed set of values (`values`, joined with ", "); for a value map, `or` lists
    /// the canonical values also accepted.
    OneOf {
        /// The values, as the schema lists them.
        values: String,
        /// The canonical values of a value map.
        or: Option<String>,
    },
    /// Any text.
    Text,
    /// A whole number.
    WholeNumber,
    /// A number, with an example in the field's separators (`1,234.5`).
    Number {
        /// The example.
        example: String,
    },
    /// A yes/no value, in the spellings the field accepts.
    Boolean {
        /// The spellings of yes, joined with ", ".
        yes: String,
        /// The spellings of no, joined with ", ".
        no: String,
    },
    /// A real date, with up to three examples, each `15/03/2024 (%d/%m/%Y)`.
    Date {
        /// The examples.
        examples: Vec<String>,
    },
    /// A year.
    Year,
    /// A year and month.
    Month,
    /// A value no other row has.
    Unique,
    /// An email address (`format: email`).
    Email,
    /// An absolute address with a scheme (`format: uri`).
    Uri,
    /// Base64 text (`format: binary`).
    Base64,
    /// A UUID (`format: uuid`).
    Uuid,
    /// A total equal to the figures it adds up (a wide sheet's totals row or column).
    Total {
        /// Their sum, as written.
        sum: String,
    },
}

/// What a valid value looks like: a kind and the bounds on it, as the schema writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The kind of value.
    pub kind: ExpectedKind,
    /// The lowest allowed value.
    pub lower: Option<String>,
    /// The highest allowed value.
    pub upper: Option<String>,
    /// The fewest characters.
    pub min_length: Option<String>,
    /// The most characters.
    pub max_length: Option<String>,
    /// The pattern the value must match.
    pub pattern: Option<String>,
}

impl Expected {
    /// A kind with no bounds.
    pub fn of(kind: ExpectedKind) -> Self {
        Self {
            kind,
            lower: None,
            upper: None,
            min_length: None,
            max_length: None,
            pattern: None,
        }
    }
}

impl fmt::Display for ExpectedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OneOf { values, or: None } => write!(f, "one of {values}"),
            Self::OneOf {
                values,
                or: Some(or),
            } => write!(f, "one of {values} (or {or})"),
            Self::Text => f.write_str("text"),
            Self::WholeNumber => f.write_str("a whole number such as 42"),
            Self::Number { example } => write!(f, "a number such as {example}"),
            Self::Boolean { yes, no } => write!(f, "one of {yes} (yes) or {no} (no)"),
            Self::Date { examples } => {
                write!(f, "a real date written like {}", examples.join(" or "))
            }
            Self::Year => f.write_str("a year such as 2024"),
            Self::Month => f.write_str("a month such as 2024-03"),
            Self::Unique => f.write_str("a value that no other row has"),
            Self::Email => f.write_str("an email address such as name@example.org"),
            Self::Uri => f.write_str("an address with its scheme, such as https://example.org/a"),
            Self::Base64 => f.write_str("base64 text such as aGVsbG8="),
            Self::Uuid => f.write_str("a UUID such as 123e4567-e89b-12d3-a456-426614174000"),
            Self::Total { sum } => write!(f, "the sum of the figures it totals, {sum}"),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        match (&self.lower, &self.upper) {
            (Some(a), Some(b)) => write!(f, ", from {a} to {b}")?,
            (Some(a), None) => write!(f, ", at least {a}")?,
            (None, Some(b)) => write!(f, ", at most {b}")?,
            (None, None) => {}
        }
        match (&self.min_length, &self.max_length) {
            (Some(a), Some(b)) => write!(f, ", {a} to {b} characters")?,
            (Some(a), None) => write!(f, ", at least {a} characters")?,
            (None, Some(b)) => write!(f, ", at most {b} characters")?,
            (None, None) => {}
        }
        if let Some(p) = &self.pattern {
            write!(f, ", in the form {p}")?;
        }
        Ok(())
    }
}
