//! The workspace's pseudonymisation key: 32 random bytes in `.backbone/secret.key`, created on
//! first use with owner-only permissions and never printed.

use std::path::Path;

use crate::{Layout, WorkspaceError};

/// The key's bytes, made on first use. Two first uses at once agree on one key.
pub fn secret_key(layout: &Layout) -> Result<Vec<u8>, WorkspaceError> {
    let path = layout.secret_key();
    if !path.exists() {
        let dir = layout.private();
        std::fs::create_dir_all(&dir).map_err(|e| WorkspaceError::io(&dir, e))?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| WorkspaceError::Key {
            path: path.display().to_string(),
            message: format!("no randomness for the secret key: {e}"),
        })?;
        // Written whole aside, then linked into place: two first ingests at once agree on one
        // key (the link fails for the second, which then reads the first's), and nobody ever
        // reads half a key.
        let tmp = dir.join(format!(".secret.key.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &key).map_err(|e| WorkspaceError::io(&tmp, e))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(WorkspaceError::io(&path, e)),
        }
    }
    // How long a key must be is the pseudonymiser's rule (`backbone_ingest::Pseudonymiser`).
    std::fs::read(&path).map_err(|e| WorkspaceError::io(&path, e))
}

/// The keys of the pseudonym key's rotations (`.backbone/rotations.key`), oldest first; empty
/// when the key was never rotated.
pub fn rotation_keys(layout: &Layout) -> Result<Vec<u8>, WorkspaceError> {
    let path = layout.rotation_keys();
    match std::fs::read(&path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(WorkspaceError::io(&path, e)),
    }
}

/// Makes an existing file readable and writable by its owner only (a copy or a rename keeps
/// the mode a file arrived with; raw partner files are the data manager's alone).
#[cfg(unix)]
pub fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Nothing to do where files have no Unix modes.
#[cfg(not(unix))]
pub fn owner_only(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Writes a new file readable by its owner only.
#[cfg(unix)]
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// Writes a new file (no owner-only mode off Unix).
#[cfg(not(unix))]
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)
}
