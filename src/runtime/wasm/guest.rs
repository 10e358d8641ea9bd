//! The interpreter guests: which module, where its files are, how it is
//! entered and what it sees besides the run's own directories.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
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
    /// `guests/python/build.sh` or installed by `wasmjobs install-guests`
    /// (see [`python_guest_places`]), pre-initialised (snapshotted) on
    /// first use unless its prepared modules were installed too.
    Python,
}

/// The file an installed guest's directory names its build in: a SHA-256
/// of its module and its whole stdlib tree, written by `install-guests`.
pub const BUILD_ID_FILE: &str = "build-id";

/// The files of a guest that lives outside the binary.
#[derive(Debug, Clone)]
pub struct GuestFiles {
    /// The guest's directory.
    pub dir: PathBuf,
    /// The module (before pre-initialisation).
    pub wasm: PathBuf,
    /// The read-only tree mounted at [`PYTHON_STDLIB_MOUNT`].
    pub stdlib: PathBuf,
    /// What identifies this build in the guest's hash: an installed
    /// guest's [`BUILD_ID_FILE`] (the same wherever the install is), else
    /// the resolved directory (a build in the cache is keyed by every
    /// build input).
    pub build: Vec<u8>,
}

impl GuestFiles {
    /// The Python guest in `dir` (resolved through symlinks), if `dir`
    /// holds one (`python.wasm` and `lib/python3.13/`).
    pub fn python_at(dir: &Path) -> Option<GuestFiles> {
        let dir = dir.canonicalize().ok()?;
        let wasm = dir.join("python.wasm");
        let stdlib = dir.join("lib");
        if !wasm.is_file() || !stdlib.join("python3.13").is_dir() {
            return None;
        }
        let build = match std::fs::read_to_string(dir.join(BUILD_ID_FILE)) {
            Ok(id) => format!("build-id {}", id.trim()).into_bytes(),
            Err(_) => dir.as_os_str().as_encoded_bytes().to_vec(),
        };
        Some(GuestFiles {
            dir,
            wasm,
            stdlib,
            build,
        })
    }
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
            fix: "see \"The guests\" in docs/usage.md".into(),
        })
    }

    /// The guest's module bytes.
    pub fn wasm(self) -> Result<std::borrow::Cow<'static, [u8]>> {
        self.wasm_of(self.files()?.as_ref())
    }

    /// The module bytes of this guest with these files (`None` for
    /// embedded guests).
    pub fn wasm_of(self, files: Option<&GuestFiles>) -> Result<std::borrow::Cow<'static, [u8]>> {
        match files {
            None => Ok(JS_GUEST.into()),
            Some(f) => {
                let bytes = std::fs::read(&f.wasm)
                    .with_context(|| format!("reading {}", f.wasm.display()))?;
                Ok(bytes.into())
            }
        }
    }

    /// SHA-256 of everything a compiled guest depends on: its module, its
    /// build (see [`GuestFiles::build`]) and the recipe of its snapshot
    /// (the directories it records and the Wizer version), hex.
    pub fn hash(self) -> Result<String> {
        self.hash_of(self.files()?.as_ref())
    }

    /// [`Guest::hash`] of this guest with these files.
    pub fn hash_of(self, files: Option<&GuestFiles>) -> Result<String> {
        let mut h = Sha256::new();
        h.update(self.wasm_of(files)?);
        if let Some(f) = files {
            h.update(&f.build);
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

/// The cache directory: `$WASMJOBS_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmjobs`.
/// Guests are built into it and compiled guests loaded from it as native code, so it is never a
/// shared temporary folder, and it is created private (0700).
pub fn default_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("WASMJOBS_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("wasmjobs")));
    match dir {
        Some(d) => Ok(d),
        None => anyhow::bail!("no home directory for the module cache: set WASMJOBS_CACHE_DIR"),
    }
}

/// The variable that names the Python guest's directory; when it is set,
/// no other place is looked in.
pub const PYTHON_GUEST_VAR: &str = "WASMJOBS_PYTHON_GUEST";

/// A place the Python guest is looked for in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The directory.
    pub dir: PathBuf,
    /// Why it is looked in (shown in messages).
    pub why: String,
}

/// Where the Python guest is looked for, in order: `$WASMJOBS_PYTHON_GUEST`
/// alone when it is set; else the install beside the binary
/// (`<exe>/../lib/wasmjobs/guests/python`), the system installs
/// (`/usr/local/lib/...`, `/usr/lib/...`) and the build in this user's
/// cache (`<cache>/guests/python/current`).
pub fn python_guest_places() -> Vec<Place> {
    places_from(
        std::env::var_os(PYTHON_GUEST_VAR).map(PathBuf::from),
        super::installed::prefixes(),
        default_dir().ok(),
    )
}

/// [`python_guest_places`] from its inputs (the variable, the install
/// prefixes in order, the cache directory).
fn places_from(var: Option<PathBuf>, prefixes: Vec<Place>, cache: Option<PathBuf>) -> Vec<Place> {
    if let Some(dir) = var {
        return vec![Place {
            dir,
            why: format!("${PYTHON_GUEST_VAR}"),
        }];
    }
    let mut places: Vec<Place> = prefixes
        .into_iter()
        .map(|p| Place {
            dir: super::installed::python_dir(&p.dir),
            why: p.why,
        })
        .collect();
    if let Some(c) = cache {
        places.push(Place {
            dir: c.join("guests/python/current"),
            why: "this user's build, guests/python/build.sh".into(),
        });
    }
    places
}

/// The error when no place holds the Python guest: every place looked in
/// and the ways to get one.
fn not_found(places: &[Place]) -> anyhow::Error {
    let looked = places
        .iter()
        .map(|p| format!("{} ({})", p.dir.display(), p.why))
        .collect::<Vec<_>>()
        .join(", ");
    let only = if places.len() == 1 && places[0].why.starts_with('$') {
        format!("; unset {PYTHON_GUEST_VAR} to look in the usual places")
    } else {
        String::new()
    };
    anyhow::anyhow!(
        "the Python guest is not built or installed (looked in {looked}{only}): build it with guests/python/build.sh (for this user), or install it for every user with `wasmjobs install-guests` (as root; --prefix DIR for another place)"
    )
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
    let places = python_guest_places();
    match places.iter().find_map(|p| GuestFiles::python_at(&p.dir)) {
        Some(files) => Ok(FOUND.get_or_init(|| files).clone()),
        None => Err(not_found(&places)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(dir: &str, why: &str) -> Place {
        Place {
            dir: dir.into(),
            why: why.into(),
        }
    }

    #[test]
    fn the_variable_alone_is_looked_in_when_set() {
        let p = places_from(
            Some("/opt/py".into()),
            vec![place("/usr/local", "system")],
            Some("/home/u/.cache/wasmjobs".into()),
        );
        assert_eq!(p, vec![place("/opt/py", "$WASMJOBS_PYTHON_GUEST")]);
        let msg = format!("{}", not_found(&p));
        assert!(msg.contains("/opt/py ($WASMJOBS_PYTHON_GUEST)"), "{msg}");
        assert!(msg.contains("unset WASMJOBS_PYTHON_GUEST"), "{msg}");
    }

    #[test]
    fn installs_come_before_the_users_build() {
        let p = places_from(
            None,
            vec![place("/opt/wj", "beside"), place("/usr/local", "system")],
            Some("/home/u/.cache/wasmjobs".into()),
        );
        let dirs: Vec<_> = p.iter().map(|p| p.dir.to_str().unwrap()).collect();
        assert_eq!(
            dirs,
            [
                "/opt/wj/lib/wasmjobs/guests/python",
                "/usr/local/lib/wasmjobs/guests/python",
                "/home/u/.cache/wasmjobs/guests/python/current"
            ]
        );
        let msg = format!("{}", not_found(&p));
        for want in [
            "/opt/wj/lib/wasmjobs/guests/python (beside)",
            "/home/u/.cache/wasmjobs/guests/python/current",
            "guests/python/build.sh",
            "wasmjobs install-guests",
        ] {
            assert!(msg.contains(want), "{want:?} in {msg}");
        }
        assert!(!msg.contains("unset"), "{msg}");
    }

    #[test]
    fn an_installed_build_is_named_by_its_build_id_not_its_place() {
        let t = tempfile::tempdir().unwrap();
        let mk = |d: &Path| {
            std::fs::create_dir_all(d.join("lib/python3.13")).unwrap();
            std::fs::write(d.join("python.wasm"), b"\0asm").unwrap();
        };
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        mk(&a);
        mk(&b);
        assert!(GuestFiles::python_at(&t.path().join("none")).is_none());
        // Without a build id, the place is the build's name.
        let fa = GuestFiles::python_at(&a).unwrap();
        assert_eq!(
            fa.build,
            a.canonicalize().unwrap().as_os_str().as_encoded_bytes()
        );
        std::fs::write(a.join(BUILD_ID_FILE), "abc\n").unwrap();
        std::fs::write(b.join(BUILD_ID_FILE), "abc\n").unwrap();
        let (fa, fb) = (
            GuestFiles::python_at(&a).unwrap(),
            GuestFiles::python_at(&b).unwrap(),
        );
        assert_eq!(fa.build, b"build-id abc");
        assert_eq!(
            Guest::Python.hash_of(Some(&fa)).unwrap(),
            Guest::Python.hash_of(Some(&fb)).unwrap()
        );
    }
}
