//! `/vfs/data/jobs/{type}/{name}/...`: a tenant's run logs and scheduler
//! and continuous logs, read-only and confined to the tenant's data folder
//! (paths resolve through a `cap_std` handle that cannot leave it; `.`,
//! `..` and symlinks as the file itself are refused).

use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

/// Reads `rel` (slash-separated) under `data_root`, or `None` when it is
/// not a regular file there.
pub fn read(data_root: &Path, rel: &str) -> Option<Vec<u8>> {
    if rel
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\0'))
    {
        return None;
    }
    let root = Dir::open_ambient_dir(data_root, ambient_authority()).ok()?;
    if !root.symlink_metadata(rel).ok()?.is_file() {
        return None;
    }
    root.read(rel).ok()
}
