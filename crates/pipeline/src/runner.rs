//! The portal's hook for `[portal] ingest_at_once`: a night after uploads, one at a time on
//! a thread of its own; uploads that arrive during a run make one more run after it.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use backbone_workspace::Layout;

use crate::night::{NightOptions, night};

/// How often, and how long apart, the runner tries again while another run holds the lock.
const ATTEMPTS: u32 = 60;
const WAIT: Duration = Duration::from_secs(5);

/// A function the portal calls after each queued upload (the portal knows it only as
/// `Fn()`, so it stays free of the store's and the metrics' dependencies).
pub fn runner(
    layout: Layout,
    isolation: Option<backbone_ingest::isolate::Isolation>,
) -> Arc<dyn Fn() + Send + Sync> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let options = NightOptions {
            dry_run: false,
            quiet: true,
            isolation,
        };
        while rx.recv().is_ok() {
            while rx.try_recv().is_ok() {}
            // Another run holds the lock (cron's, say): wait for it rather than leave the
            // file to tomorrow night.
            for attempt in 1..=ATTEMPTS {
                match night(&layout, &options) {
                    Ok(summary) => {
                        let (files, rejected, stored) = summary.counts();
                        tracing::info!(
                            "run after upload: {files} file(s), {stored} rows stored, {rejected} rejected"
                        );
                        break;
                    }
                    Err(e) if attempt < ATTEMPTS && e.is_run_in_progress() => {
                        std::thread::sleep(WAIT);
                    }
                    Err(e) => {
                        tracing::error!("run after upload: {e}");
                        break;
                    }
                }
            }
        }
    });
    let tx = Mutex::new(tx);
    Arc::new(move || {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(());
        }
    })
}
