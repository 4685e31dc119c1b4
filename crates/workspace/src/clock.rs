//! The clock: the system's, or a set one (`BACKBONE_CLOCK`, RFC 3339), so the demo can live a
//! year of nights in a minute and tests can be late on purpose.

use std::sync::Mutex;

static CLOCK: Mutex<Option<String>> = Mutex::new(None);

/// Sets the clock of this process (the demo's simulated nights); `None` for the real one.
pub fn set(clock: Option<String>) {
    if let Ok(mut c) = CLOCK.lock() {
        *c = clock;
    }
}

/// Now, as RFC 3339: the clock set in this process, else `BACKBONE_CLOCK` when it is a valid
/// RFC 3339 time, else the system's (UTC, whole seconds).
pub fn now_rfc3339() -> String {
    if let Some(clock) = CLOCK.lock().ok().and_then(|c| c.clone()) {
        return clock;
    }
    if let Ok(clock) = std::env::var("BACKBONE_CLOCK")
        && chrono::DateTime::parse_from_rfc3339(&clock).is_ok()
    {
        return clock;
    }
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Today's date by the same clock.
pub fn today() -> chrono::NaiveDate {
    chrono::DateTime::parse_from_rfc3339(&now_rfc3339())
        .map(|d| d.date_naive())
        .unwrap_or_else(|_| chrono::Utc::now().date_naive())
}
