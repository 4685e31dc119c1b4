//! What is waiting in the inbox, and where each file goes (by the workspace's one placement
//! rule, so the night refuses exactly what the portal and `backbone ingest` refuse).

use std::path::{Path, PathBuf};

use backbone_schema::Initiative;
use backbone_workspace::{Layout, Placement, Request, place};

use crate::PipelineError;

/// One file found in the inbox, and what the night makes of it.
#[derive(Debug)]
pub struct Planned {
    /// The partner folder it is in (empty: `inbox/` itself).
    pub partner: String,
    /// The file.
    pub file: PathBuf,
    /// Its table and period, or why they could not be told (in the partner's language
    /// where there is a partner).
    pub target: Result<Placement, String>,
}

/// Names in a folder, dot-files left out, split into files and folders, each sorted.
fn entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), PipelineError> {
    let (mut files, mut folders): (Vec<PathBuf>, Vec<PathBuf>) = std::fs::read_dir(dir)
        .map_err(|e| PipelineError::io("reading", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .partition(|p| p.is_file());
    files.sort();
    folders.retain(|p| p.is_dir());
    folders.sort();
    Ok((files, folders))
}

/// The files waiting in `inbox/<partner>/`, oldest name first, with their table and period.
pub fn plan(layout: &Layout, initiative: &Initiative) -> Result<Vec<Planned>, PipelineError> {
    let inbox = layout.inbox();
    let mut out = Vec::new();
    if !inbox.is_dir() {
        return Ok(out);
    }
    let (loose, partners) = entries(&inbox)?;
    // A file dropped in `inbox/` itself: nobody's, so it waits, and the summary says where it
    // belongs.
    for file in loose {
        out.push(Planned {
            partner: String::new(),
            file,
            target: Err(
                "not in a partner's folder: move it to inbox/<partner>/ of the partner that sent it"
                    .to_owned(),
            ),
        });
    }
    for dir in partners {
        let partner = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (files, folders) = entries(&dir)?;
        // A folder inside a partner's folder is not read; say so rather than pass it over.
        for folder in folders {
            out.push(Planned {
                partner: partner.clone(),
                file: folder,
                target: Err(format!(
                    "a folder: the run reads only the files directly in inbox/{partner}/; move them there"
                )),
            });
        }
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = place(
                initiative,
                &Request {
                    partner: &partner,
                    file_name: &name,
                    ..Request::default()
                },
            )
            .map_err(|r| r.to_string());
            out.push(Planned {
                partner: partner.clone(),
                file,
                target,
            });
        }
    }
    Ok(out)
}
