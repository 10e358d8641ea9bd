//! Compiled guests cached on disk as serialized modules, keyed by the
//! guest's hash and the engine's compatibility hash (wasmtime version and
//! every code-generation setting), and loaded with `deserialize_file` so
//! the code and the memory image are mapped, not copied. Compiling (and
//! pre-initialising) happens once per key, under a file lock, so parallel
//! hosts do the work once, and says so on stderr (one line before, one
//! after). A compiled module installed by `install-guests` is used when
//! the cache has none.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasmtime::{Engine, Module};

use super::{Guest, installed, snapshot};
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

/// Loads the compiled guest from the cache, else from an install, else
/// compiles (and, for guests with an init export, pre-initialises) and
/// stores it first.
pub fn load(dir: &Path, engine: &Engine, guest: Guest) -> Result<Module> {
    let guest_hash = guest.hash()?;
    let path = cache_path(dir, engine, guest, &guest_hash);
    // A host whose cache cannot be made (no writable home) still runs an
    // installed module.
    let private =
        ensure_private_dir(dir).with_context(|| format!("module cache {}", dir.display()));
    if private.is_ok()
        && let Some(m) = deserialize(engine, &path)
    {
        return Ok(m);
    }
    if let Some(m) = installed::compiled(engine, guest, &guest_hash) {
        return Ok(m);
    }
    private?;
    let _lock = lock(dir, guest)?;
    if let Some(m) = deserialize(engine, &path) {
        return Ok(m); // another process compiled it meanwhile
    }
    let started = std::time::Instant::now();
    eprintln!(
        "{}",
        preparing(
            guest,
            snapshot::ready(dir, guest, &guest_hash),
            dir,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        )
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
    let module = unsafe { Module::deserialize_file(engine, &path) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("loading {}", path.display()))?;
    eprintln!(
        "the {} guest is ready in {:.1} s",
        guest.noun(),
        started.elapsed().as_secs_f64()
    );
    Ok(module)
}

/// Takes the cache's lock for `guest`, saying so when another process
/// holds it (it is preparing the guest; this one waits for it).
fn lock(dir: &Path, guest: Guest) -> Result<FileLock> {
    let path = dir.join(format!("{}.lock", guest.id()));
    let taken =
        FileLock::try_exclusive(&path).with_context(|| format!("locking {}", path.display()))?;
    if let Some(lock) = taken {
        return Ok(lock);
    }
    eprintln!(
        "waiting for another wasmjobs process to prepare the {} guest (it holds {})",
        guest.noun(),
        path.display()
    );
    FileLock::exclusive(&path).with_context(|| format!("locking {}", path.display()))
}

/// The line said before preparing `guest` (`compile_only`: its snapshot
/// exists), with how long it may take on `cores` cores.
fn preparing(guest: Guest, compile_only: bool, dir: &Path, cores: usize) -> String {
    let verb = if compile_only {
        "compiling"
    } else {
        "preparing"
    };
    let cores = if cores == 1 {
        "1 core".to_string()
    } else {
        format!("{cores} cores")
    };
    let time = match guest {
        Guest::Js => "a few seconds".to_string(),
        Guest::Python => format!("up to a minute on {cores}"),
    };
    format!(
        "{verb} the {} guest for this host, once ({time}); cached in {}",
        guest.noun(),
        dir.display()
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preparing_line_says_what_how_long_and_where() {
        let d = Path::new("/home/u/.cache/wasmjobs/modules");
        assert_eq!(
            preparing(Guest::Python, false, d, 2),
            "preparing the Python guest for this host, once (up to a minute on 2 cores); cached in /home/u/.cache/wasmjobs/modules"
        );
        assert_eq!(
            preparing(Guest::Js, true, d, 1),
            "compiling the JavaScript guest for this host, once (a few seconds); cached in /home/u/.cache/wasmjobs/modules"
        );
    }
}
