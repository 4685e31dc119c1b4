//! Sessions of the HTML pages (with their anti-forgery token) and the cap on uploads per
//! partner per hour. Both live in memory: a restart signs everyone out and forgets the hour.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::PortalError;
use crate::tokens::{Who, random_hex};

/// How long a sign-in lasts.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// A signed-in browser.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) who: Who,
    /// The digest of the token the session was opened with: every request checks it is still
    /// the holder's, so rotating a token ends its sessions at once.
    pub(crate) token: String,
    /// The anti-forgery token every form of this session carries.
    pub(crate) csrf: String,
    expires: Instant,
}

impl Session {
    /// Whether a form's token is this session's (constant time).
    pub(crate) fn csrf_ok(&self, given: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// The sessions, by the cookie's value.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub(crate) fn create(&self, who: Who, token: String) -> Result<(String, Session), PortalError> {
        let id = random_hex(32)?;
        let session = Session {
            who,
            token,
            csrf: random_hex(32)?,
            expires: Instant::now() + SESSION_TTL,
        };
        if let Ok(mut map) = self.map.lock() {
            let now = Instant::now();
            map.retain(|_, s| s.expires > now);
            map.insert(id.clone(), session.clone());
        }
        Ok((id, session))
    }

    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let map = self.map.lock().ok()?;
        map.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    pub(crate) fn remove(&self, id: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(id);
        }
    }
}

/// Uploads per partner in the last hour.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_hour: u32,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimit {
    pub(crate) fn new(per_hour: u32) -> Self {
        Self {
            per_hour,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one upload for `partner`, or says in how many seconds the next is allowed.
    pub(crate) fn take(&self, partner: &str) -> Result<(), u64> {
        let Ok(mut seen) = self.seen.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let q = seen.entry(partner.to_owned()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= hour) {
            q.pop_front();
        }
        if q.len() >= self.per_hour as usize {
            let wait = q
                .front()
                .map_or(hour, |t| hour.saturating_sub(now.duration_since(*t)));
            return Err(wait.as_secs().max(1));
        }
        q.push_back(now);
        Ok(())
    }

    pub(crate) fn per_hour(&self) -> u32 {
        self.per_hour
    }
}

/// One validation at a time per partner, and at most `total` at once: a partner's hostile
/// file holds at most one of the shared places, so other partners' uploads go on.
#[derive(Debug)]
pub(crate) struct Checkers {
    total: Arc<tokio::sync::Semaphore>,
    per_partner: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

/// Both places, held while a file is checked.
pub(crate) struct CheckPermit {
    _partner: tokio::sync::OwnedSemaphorePermit,
    _total: tokio::sync::OwnedSemaphorePermit,
}

impl Checkers {
    pub(crate) fn new(total: usize) -> Self {
        Self {
            total: Arc::new(tokio::sync::Semaphore::new(total.max(2))),
            per_partner: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn acquire(&self, partner: &str) -> Option<CheckPermit> {
        let mine = {
            let mut map = self.per_partner.lock().ok()?;
            map.entry(partner.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1)))
                .clone()
        };
        let partner = mine.acquire_owned().await.ok()?;
        let total = self.total.clone().acquire_owned().await.ok()?;
        Some(CheckPermit {
            _partner: partner,
            _total: total,
        })
    }
}
