//! Compiled guests cached on disk as serialized modules, keyed by the
//! guest's hash and the engine's compatibility hash (wasmtime version and
//! every code-generation setting), and loaded with `deserialize_file` so
//! the code and the memory image are mapped, not copied. Compiling (and
//! pre-initialising) happens once per key, under a file lock, so parallel
//! hosts do the work once.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::{Engine, Module};

use super::{Guest, snapshot};
use crate::store::fsutil::{FileLock, ensure_private_dir, write_atomic};

/// The cache file a guest compiles to under `engine`.
pub fn cache_path(dir: &Path, engine: &Engine, guest: Guest, guest_hash: &str) -> PathBuf {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!(
        "{}-{}-{:016x}.cwasm",
        guest.id(),
        &guest_hash[..16],
        h.finish()
    ))
}

/// Loads the compiled guest from the cache, compiling (and, for guests
/// with an init export, pre-initialising) and storing it first when it is
/// missing or unusable.
pub fn load(dir: &Path, engine: &Engine, guest: Guest) -> Result<Module> {
    let guest_hash = guest.hash()?;
    let path = cache_path(dir, engine, guest, &guest_hash);
    ensure_private_dir(dir).with_context(|| format!("module cache {}", dir.display()))?;
    if let Some(m) = deserialize(engine, &path) {
        return Ok(m);
    }
    let _lock = FileLock::exclusive(&dir.join(format!("{}.lock", guest.id())))?;
    if let Some(m) = deserialize(engine, &path) {
        return Ok(m); // another process compiled it meanwhile
    }
    tracing::info!(
        "compiling the {} guest (once; cached in {})",
        guest.id(),
        dir.display()
    );
    let compile = |wasm: &[u8]| {
        Module::new(engine, wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling the {} guest", guest.id()))
    };
    // Every guest is pre-initialised: the module compiled is its snapshot.
    let image = snapshot::load_or_make(dir, guest, &guest_hash)?;
    let module = match compile(&image) {
        Ok(m) => m,
        // A snapshot that is valid wasm failed for a reason of the host's
        // (no executable memory, no address space): it is kept.
        Err(e) if Module::validate(engine, &image).is_ok() => return Err(e),
        Err(e) => {
            // A damaged cached snapshot: make it again, once.
            tracing::warn!("discarding the cached {} snapshot: {e:#}", guest.id());
            snapshot::discard(dir, guest, &guest_hash);
            compile(&snapshot::load_or_make(dir, guest, &guest_hash)?)?
        }
    };
    let bytes = module.serialize()?;
    write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    // SAFETY: as in `deserialize`; the file was just written from `serialize`.
    unsafe { Module::deserialize_file(engine, &path) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading {}", path.display()))
}

fn deserialize(engine: &Engine, path: &Path) -> Option<Module> {
    if !path.is_file() {
        return None;
    }
    // SAFETY: the cache directory is private to the host (created 0700) and
    // holds only files this module wrote with `Module::serialize`; wasmtime
    // checks the header and refuses files from other versions or settings.
    match unsafe { Module::deserialize_file(engine, path) } {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!("discarding unusable module cache {}: {e:#}", path.display());
            None
        }
    }
}
