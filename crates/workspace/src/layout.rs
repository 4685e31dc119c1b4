//! Which folder of a workspace holds what: every path the product reads or writes, named once.
//!
//! ```text
//! data-schemas/*.json            table schemas          ┐
//! pipelines/indicators/*.toml    indicators             │ the declarations
//! pipelines/initiative.toml      partners, obligations  │ (kept in git)
//! pipelines/profiles/<p>.toml    a partner's reading    ┘
//! inbox/<partner>/               files waiting for the night (personal data)
//! processed/<partner>/           files the night took (personal data)
//! archive/                       raw files by hash (personal data, the store's)
//! store/                         Delta tables (pseudonymised; shareable)
//! results/                       indicators, completeness, quality (the metrics')
//! reports/latest/                the committee report; reports/<date>-<versions>/ copies
//! editions/<n>/                  published editions, never changed (`backbone publish`)
//! outbox/<partner>/              receipts
//! runs/                          one summary per night; runs/latest.txt
//! reminders.csv                  who is due or overdue
//! .backbone/                     private: key, run lock, the portal's state
//! ```

use std::path::{Path, PathBuf};

/// A workspace's folders and files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The workspace at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The workspace folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `data-schemas/`: one Table Schema per table.
    pub fn schemas(&self) -> PathBuf {
        self.root.join("data-schemas")
    }

    /// `data-schemas/<name>.json`.
    pub fn schema(&self, name: &str) -> PathBuf {
        self.schemas().join(format!("{name}.json"))
    }

    /// `editions/`: the published editions.
    pub fn editions(&self) -> PathBuf {
        self.root.join("editions")
    }

    /// `editions/<n>/`: edition `n` as published (the report, its results and `edition.json`).
    pub fn edition(&self, n: u32) -> PathBuf {
        self.editions().join(n.to_string())
    }

    /// `pipelines/`.
    pub fn pipelines(&self) -> PathBuf {
        self.root.join("pipelines")
    }

    /// `pipelines/indicators/`.
    pub fn indicators(&self) -> PathBuf {
        self.pipelines().join("indicators")
    }

    /// `pipelines/initiative.toml`.
    pub fn initiative(&self) -> PathBuf {
        self.pipelines().join("initiative.toml")
    }

    /// `pipelines/profiles/`.
    pub fn profiles(&self) -> PathBuf {
        self.pipelines().join("profiles")
    }

    /// `pipelines/profiles/<partner>.toml`, when the partner has one.
    pub fn profile(&self, partner: &str) -> Option<PathBuf> {
        Some(self.profiles().join(format!("{partner}.toml"))).filter(|p| p.is_file())
    }

    /// `inbox/`.
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }

    /// `inbox/<partner>/`.
    pub fn inbox_of(&self, partner: &str) -> PathBuf {
        self.inbox().join(partner)
    }

    /// `processed/<partner>/`.
    pub fn processed_of(&self, partner: &str) -> PathBuf {
        self.root.join("processed").join(partner)
    }

    /// `outbox/`: receipts, a folder per partner.
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// `outbox/<partner>/`.
    pub fn outbox_of(&self, partner: &str) -> PathBuf {
        self.outbox().join(partner)
    }

    /// `store/`: the Delta tables.
    pub fn store(&self) -> PathBuf {
        self.root.join("store")
    }

    /// `archive/`: the raw files as received, by hash.
    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }

    /// `results/`.
    pub fn results(&self) -> PathBuf {
        self.root.join("results")
    }

    /// `reports/`.
    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// `reports/latest/`.
    pub fn latest_report(&self) -> PathBuf {
        self.reports().join("latest")
    }

    /// `runs/`: one summary per night.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// `reminders.csv`.
    pub fn reminders(&self) -> PathBuf {
        self.root.join("reminders.csv")
    }

    /// `.backbone/`: what only the data manager's tools read.
    pub fn private(&self) -> PathBuf {
        self.root.join(".backbone")
    }

    /// `.backbone/secret.key`.
    pub fn secret_key(&self) -> PathBuf {
        self.private().join("secret.key")
    }

    /// `.backbone/rotations.key`: the keys of the pseudonym key's rotations (`backbone
    /// rekey`), 32 bytes each, oldest first.
    pub fn rotation_keys(&self) -> PathBuf {
        self.private().join("rotations.key")
    }

    /// `.backbone/run.lock`.
    pub fn run_lock(&self) -> PathBuf {
        self.private().join("run.lock")
    }

    /// `.backbone/portal/`: the upload service's state.
    pub fn portal(&self) -> PathBuf {
        self.private().join("portal")
    }

    /// `.backbone/portal/audit.jsonl`.
    pub fn audit_log(&self) -> PathBuf {
        self.portal().join("audit.jsonl")
    }

    /// `.backbone/portal/tokens.json`: the hashes of the access tokens.
    pub fn tokens(&self) -> PathBuf {
        self.portal().join("tokens.json")
    }
}
