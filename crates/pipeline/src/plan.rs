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
    /// A link, a device, a pipe or a socket: never opened; its partner gets a receipt saying
    /// why.
    pub not_a_file: bool,
}

/// What a folder holds, dot-files left out, each kind sorted by name. Entries are told apart
/// without following links (`DirEntry::file_type`), so a link in the inbox is never read
/// through: it could name any file on the machine, or another partner's.
struct Entries {
    files: Vec<PathBuf>,
    folders: Vec<PathBuf>,
    /// Links, devices, FIFOs, sockets, with why they are not read.
    others: Vec<(PathBuf, &'static str)>,
}

fn entries(dir: &Path) -> Result<Entries, PipelineError> {
    let mut out = Entries {
        files: Vec::new(),
        folders: Vec::new(),
        others: Vec::new(),
    };
    for entry in std::fs::read_dir(dir).map_err(|e| PipelineError::io("reading", dir, e))? {
        let Ok(entry) = entry else { continue };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_file() => out.files.push(path),
            Ok(t) if t.is_dir() => out.folders.push(path),
            Ok(t) if t.is_symlink() => out.others.push((
                path,
                "a link, not a file: the run reads only files put in the inbox itself; copy the file there",
            )),
            _ => out.others.push((
                path,
                "not a regular file (a device, a pipe or a socket): the run reads only files",
            )),
        }
    }
    out.files.sort();
    out.folders.sort();
    out.others.sort();
    Ok(out)
}

/// The files waiting in `inbox/<partner>/`, oldest name first, with their table and period.
pub fn plan(layout: &Layout, initiative: &Initiative) -> Result<Vec<Planned>, PipelineError> {
    let inbox = layout.inbox();
    let mut out = Vec::new();
    if !inbox.is_dir() {
        return Ok(out);
    }
    let top = entries(&inbox)?;
    // A file dropped in `inbox/` itself: nobody's, so it waits, and the summary says where it
    // belongs.
    for file in top.files {
        out.push(Planned {
            partner: String::new(),
            file,
            target: Err(
                "not in a partner's folder: move it to inbox/<partner>/ of the partner that sent it"
                    .to_owned(),
            ),
            not_a_file: false,
        });
    }
    for (file, why) in top.others {
        out.push(Planned {
            partner: String::new(),
            file,
            target: Err(why.to_owned()),
            not_a_file: true,
        });
    }
    for dir in top.folders {
        let partner = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Entries {
            files,
            folders,
            others,
        } = entries(&dir)?;
        // A folder inside a partner's folder is not read; say so rather than pass it over.
        for folder in folders {
            out.push(Planned {
                partner: partner.clone(),
                file: folder,
                target: Err(format!(
                    "a folder: the run reads only the files directly in inbox/{partner}/; move them there"
                )),
                not_a_file: false,
            });
        }
        for (file, why) in others {
            out.push(Planned {
                partner: partner.clone(),
                file,
                target: Err(why.to_owned()),
                not_a_file: true,
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
                not_a_file: false,
            });
        }
    }
    Ok(out)
}
