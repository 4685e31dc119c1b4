//! Access tokens. A token is shown once, when it is made; the workspace keeps only its
//! sha256 (`.backbone/portal/tokens.json`, mode 0600). Checking a token hashes it and compares
//! the hash with every stored one in constant time, without stopping at the first match.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::PortalError;

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Who {
    /// A partner, by id.
    Partner(String),
    /// The data manager: every partner, the completeness grid, the runs.
    Admin,
}

impl Who {
    /// `partner:<id>` or `admin`, as the token file and the audit log write it.
    pub fn label(&self) -> String {
        match self {
            Self::Partner(p) => format!("partner:{p}"),
            Self::Admin => "admin".to_owned(),
        }
    }

    fn parse(label: &str) -> Option<Self> {
        match label {
            "admin" => Some(Self::Admin),
            _ => label
                .strip_prefix("partner:")
                .filter(|p| !p.is_empty())
                .map(|p| Self::Partner(p.to_owned())),
        }
    }

    /// The partner id, for a partner.
    pub fn partner(&self) -> Option<&str> {
        match self {
            Self::Partner(p) => Some(p),
            Self::Admin => None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    who: String,
    sha256: String,
    created: String,
}

/// A token holder as listed for the data manager (never the token).
#[derive(Clone, Debug, Serialize)]
pub struct Holder {
    /// `partner:<id>` or `admin`.
    pub who: String,
    /// When the current token was made.
    pub created: String,
}

/// The token file of a workspace.
#[derive(Clone, Debug)]
pub struct Tokens {
    path: PathBuf,
}

const PREFIX: &str = "bbt_";

impl Tokens {
    /// The token file of `workspace`.
    pub fn of(workspace: &Path) -> Self {
        Self {
            path: backbone_workspace::Layout::new(workspace).tokens(),
        }
    }

    fn read(&self) -> Result<Vec<Entry>, PortalError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| PortalError::Tokens {
                path: self.path.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(PortalError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Makes a new token for `who`, replacing (and so revoking) the one it had; returns the
    /// token, the only time it exists outside the holder's hands.
    pub fn issue(&self, who: &Who, now: &str) -> Result<String, PortalError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| PortalError::Random(e.to_string()))?;
        let token = format!("{PREFIX}{}", hex(&bytes));
        let mut entries = self.read()?;
        let label = who.label();
        entries.retain(|e| e.who != label);
        entries.push(Entry {
            who: label,
            sha256: hex(&Sha256::digest(token.as_bytes())),
            created: now.to_owned(),
        });
        self.write(&entries)?;
        Ok(token)
    }

    fn write(&self, entries: &[Entry]) -> Result<(), PortalError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(PortalError::io(dir))?;
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(entries).map_err(|e| PortalError::Tokens {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &self.path).map_err(PortalError::io(&self.path))
    }

    /// Who holds `token`, if anyone. Read from the file at every call, so a rotated token
    /// stops working at once, without restarting the service.
    pub fn verify(&self, token: &str) -> Option<Who> {
        self.holder_of(&Self::digest(token)?)
    }

    /// The stored form of a token (its sha256), or `None` for what cannot be one. A browser
    /// session keeps it, never the token.
    pub(crate) fn digest(token: &str) -> Option<String> {
        let token = token.trim();
        if !token.starts_with(PREFIX) || token.len() > 200 {
            return None;
        }
        Some(hex(&Sha256::digest(token.as_bytes())))
    }

    /// Who holds the token with this digest now (read from the file at every call).
    pub(crate) fn holder_of(&self, digest: &str) -> Option<Who> {
        let entries = self.read().ok()?;
        let mut found = None;
        for e in &entries {
            if bool::from(e.sha256.as_bytes().ct_eq(digest.as_bytes())) {
                found = Who::parse(&e.who);
            }
        }
        found
    }

    /// Who has a token, and since when.
    pub fn holders(&self) -> Result<Vec<Holder>, PortalError> {
        Ok(self
            .read()?
            .into_iter()
            .map(|e| Holder {
                who: e.who,
                created: e.created,
            })
            .collect())
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Random hex of `n` bytes.
pub(crate) fn random_hex(n: usize) -> Result<String, PortalError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| PortalError::Random(e.to_string()))?;
    Ok(hex(&bytes))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PortalError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(PortalError::io(path))?;
    f.write_all(bytes).map_err(PortalError::io(path))?;
    f.sync_all().map_err(PortalError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_holder_and_rotation_revokes_the_old_one() {
        let dir = std::env::temp_dir().join(format!("bb-tokens-{}", std::process::id()));
        let tokens = Tokens::of(&dir);
        let a = Who::Partner("a".into());
        let first = tokens.issue(&a, "t1").unwrap_or_default();
        let admin = tokens.issue(&Who::Admin, "t1").unwrap_or_default();
        assert_eq!(tokens.verify(&first), Some(a.clone()));
        assert_eq!(tokens.verify(&format!(" {first}\n")), Some(a.clone()));
        assert_eq!(tokens.verify(&admin), Some(Who::Admin));
        assert_eq!(tokens.verify(&first[..first.len() - 1]), None);
        assert_eq!(tokens.verify("bbt_"), None);
        assert_eq!(tokens.verify(""), None);
        let second = tokens.issue(&a, "t2").unwrap_or_default();
        assert_eq!(tokens.verify(&first), None);
        assert_eq!(tokens.verify(&second), Some(a));
        assert_eq!(tokens.holders().map(|h| h.len()).unwrap_or_default(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
