//! The interpreter guests: which module, where its files are, how it is
//! entered and what it sees besides the run's own directories.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// QuickJS-NG built for wasm32-wasip1 by `guests/js/build.sh` (via build.rs).
static JS_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wasmjobs-js.wasm"));

/// Where the Python guest's stdlib is mounted, read-only (CPython's default
/// prefix `/usr/local` finds `/usr/local/lib/python3.13` there).
pub const PYTHON_STDLIB_MOUNT: &str = "/usr/local/lib";

/// The export every guest runs a job with, on a fresh instance of its
/// pre-initialised image.
pub(crate) const RUN_EXPORT: &str = "wasmjobs-run";

/// The export that pre-initialises every guest (run once, by Wizer).
pub(crate) const INIT_EXPORT: &str = "wizer-initialize";

/// A WebAssembly interpreter guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guest {
    /// QuickJS-NG, for `.js`; a reactor module embedded in the binary,
    /// pre-initialised (runtime, context and Node's prelude) on first use.
    Js,
    /// CPython 3.13, for `.py`; a reactor module built by
    /// `guests/python/build.sh`, pre-initialised (snapshotted) on first use.
    Python,
}

/// The files of a guest that lives outside the binary.
#[derive(Debug, Clone)]
pub struct GuestFiles {
    /// The guest's directory.
    pub dir: PathBuf,
    /// The module (before pre-initialisation).
    pub wasm: PathBuf,
    /// The read-only tree mounted at [`PYTHON_STDLIB_MOUNT`].
    pub stdlib: PathBuf,
}

impl Guest {
    /// Short identifier, used in cache file names.
    pub fn id(self) -> &'static str {
        match self {
            Guest::Js => "js",
            Guest::Python => "python",
        }
    }

    /// How messages name the guest ("the Python guest").
    pub fn noun(self) -> &'static str {
        match self {
            Guest::Js => "JavaScript",
            Guest::Python => "Python",
        }
    }

    /// The script host name shown in run logs.
    pub fn host_name(self) -> &'static str {
        match self {
            Guest::Js => "QuickJS-NG (wasm32-wasip1)",
            Guest::Python => "CPython 3.13 (wasm32-wasip1)",
        }
    }

    /// The guest's files on disk (`None` for embedded guests).
    pub fn files(self) -> Result<Option<GuestFiles>> {
        match self {
            Guest::Js => Ok(None),
            Guest::Python => python_files().map(Some),
        }
    }

    /// Whether the guest's files are on this host (embedded guests always
    /// are).
    pub fn installed(self) -> Result<(), super::Unusable> {
        self.files().map(|_| ()).map_err(|e| super::Unusable {
            why: format!("{e:#}"),
            fix: "install it for every user with `wasmjobs install-guests` (docs/usage.md)".into(),
        })
    }

    /// The guest's module bytes.
    pub fn wasm(self) -> Result<std::borrow::Cow<'static, [u8]>> {
        match self.files()? {
            None => Ok(JS_GUEST.into()),
            Some(f) => {
                let bytes = std::fs::read(&f.wasm)
                    .with_context(|| format!("reading {}", f.wasm.display()))?;
                Ok(bytes.into())
            }
        }
    }

    /// SHA-256 of everything a compiled guest depends on: its module, the
    /// (resolved) directory of its build, which is keyed by every build
    /// input, and the recipe of its snapshot (the
    /// directories it records and the Wizer version), hex.
    pub fn hash(self) -> Result<String> {
        let mut h = Sha256::new();
        h.update(self.wasm()?);
        if let Some(f) = self.files()? {
            h.update(f.dir.as_os_str().as_encoded_bytes());
        }
        h.update(snapshot_recipe().as_bytes());
        Ok(hex::encode(h.finalize()))
    }
}

/// What a snapshot records besides the module: the preopened directories
/// (the guest's libc keeps their table in memory) and the snapshotter.
fn snapshot_recipe() -> String {
    format!(
        "wizer 48.0.8; preopens {} {} {} {}",
        PYTHON_STDLIB_MOUNT,
        super::super::guest_paths::JOB,
        super::super::guest_paths::DATA,
        super::super::guest_paths::TMP
    )
}

/// The Python guest's directory: `$WASMJOBS_PYTHON_GUEST`, else the current
/// build in the cache (`<cache>/guests/python/current`).
fn python_guest_dir() -> Option<PathBuf> {
    match std::env::var_os("WASMJOBS_PYTHON_GUEST") {
        Some(d) => Some(PathBuf::from(d)),
        None => crate::config::default_cache_dir()
            .ok()
            .map(|c| c.join("guests/python/current")),
    }
}

/// The Python guest's files, found once per process and resolved through
/// `current`: later calls (one per run) cost nothing, and a rebuild that
/// repoints `current` cannot pair a running host's snapshot with another
/// build's stdlib. A guest that is missing is looked for again next time.
fn python_files() -> Result<GuestFiles> {
    static FOUND: OnceLock<GuestFiles> = OnceLock::new();
    if let Some(files) = FOUND.get() {
        return Ok(files.clone());
    }
    let Some(dir) = python_guest_dir() else {
        bail!("no cache directory to find the Python guest in")
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    let files = GuestFiles {
        wasm: dir.join("python.wasm"),
        stdlib: dir.join("lib"),
        dir,
    };
    if !files.wasm.is_file() || !files.stdlib.join("python3.13").is_dir() {
        bail!(
            "the Python guest is not built (looked in {}); build it with guests/python/build.sh",
            files.dir.display()
        );
    }
    Ok(FOUND.get_or_init(|| files).clone())
}
