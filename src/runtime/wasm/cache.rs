//! Compiled guests cached on disk as serialized modules, keyed by the
//! guest's hash and the engine's compatibility hash (wasmtime version and
//! every code-generation setting), and loaded with `deserialize_file` so
//! the code and the memory image are mapped, not copied.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::{Engine, Module};

use super::Guest;
use crate::store::fsutil::write_atomic;

/// The cache file a guest compiles to under `engine`.
pub fn cache_path(dir: &Path, engine: &Engine, guest: Guest) -> PathBuf {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let guest_hash = guest.hash();
    dir.join(format!(
        "{}-{}-{:016x}.cwasm",
        guest.id(),
        &guest_hash[..16],
        h.finish()
    ))
}

/// Loads the compiled guest from the cache, compiling and storing it first
/// when it is missing or unusable.
pub fn load(dir: &Path, engine: &Engine, guest: Guest) -> Result<Module> {
    let path = cache_path(dir, engine, guest);
    if path.is_file() {
        // SAFETY: the cache directory belongs to the host and holds only
        // files this function wrote with `Module::serialize`; wasmtime checks
        // the header and refuses files from other versions or settings.
        match unsafe { Module::deserialize_file(engine, &path) } {
            Ok(m) => return Ok(m),
            Err(e) => tracing::warn!("discarding unusable module cache {}: {e:#}", path.display()),
        }
    }
    crate::store::fsutil::create_private_dir(dir)
        .with_context(|| format!("creating module cache {}", dir.display()))?;
    tracing::info!(
        "compiling the {} guest (once; cached in {})",
        guest.id(),
        dir.display()
    );
    let module = Module::new(engine, guest.wasm())
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling the {} guest", guest.id()))?;
    let bytes = module.serialize()?;
    write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    // SAFETY: as above; the file was just written from `serialize`.
    unsafe { Module::deserialize_file(engine, &path) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading {}", path.display()))
}
