//! Disk accounting: what each run's scratch (its working copy and private
//! tmp), each job's data folder and each tenant hold, in apparent bytes and
//! in files (folders and symlinks count as files). One [`DiskLedger`] per
//! host is shared by every run: runs of one job share its data folder's
//! entry (keyed by path), and a tenant's total is the sum of its data
//! folders as last known plus the scratch of its runs in progress.
//!
//! A run opens a [`RunDisk`] at its start with what its folders hold
//! (see [`measure`]), asks it before anything grows ([`RunDisk::grow`],
//! [`RunDisk::write`]) and tells it what shrank. The wasm executor does so
//! on every WASI call that changes a file; a native run can report what it
//! measured ([`RunDisk::report`]) and ask what it may still add
//! ([`RunDisk::room`]). Dropping the `RunDisk` ends the run's scratch.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What a folder holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Apparent bytes of its regular files.
    pub bytes: u64,
    /// Its files, folders and symlinks (the folder itself not counted).
    pub files: u64,
}

/// What a folder or tenant may hold; `None` is no bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowance {
    /// Apparent bytes.
    pub bytes: Option<u64>,
    /// Files, folders and symlinks.
    pub files: Option<u64>,
}

/// Which of a run's folders something is stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pool {
    /// The run's working copy and tmp.
    Scratch,
    /// The job's data folder.
    Data,
}

/// Which limit refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `limits.scratch_mb`.
    ScratchBytes,
    /// `limits.scratch_files`.
    ScratchFiles,
    /// `limits.data_mb`.
    DataBytes,
    /// `limits.data_files`.
    DataFiles,
    /// The tenant quota's `disk_mb`.
    TenantBytes,
    /// The tenant quota's `disk_files`.
    TenantFiles,
    /// `limits.file_mb` (one file's size).
    FileSize,
}

/// What one run may hold: its scratch (working copy and tmp), its job's
/// data folder, and one file's size, in bytes and entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAllowance {
    /// `limits.scratch_mb`, `limits.scratch_files`.
    pub scratch: Allowance,
    /// `limits.data_mb`, `limits.data_files`.
    pub data: Allowance,
    /// `limits.file_mb`, in bytes.
    pub file_max: u64,
}

/// A file's identity (device, inode).
pub type FileId = (u64, u64);

/// The host's disk ledger. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct DiskLedger {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    data: HashMap<PathBuf, Folder>,
    scratch: HashMap<u64, Folder>,
    tenants: HashMap<String, Usage>,
    seeded: HashSet<String>,
    next_scratch: u64,
}

/// One accounted folder: what it holds and the sizes of the files written
/// through the ledger (authoritative while runs use it).
#[derive(Debug, Default)]
struct Folder {
    used: Usage,
    live: usize,
    sizes: HashMap<FileId, u64>,
}

/// One run's account: its scratch and its job's data folder, under its
/// limits and its tenant's allowance.
pub struct RunDisk {
    ledger: Arc<DiskLedger>,
    tenant: String,
    tenant_allow: Allowance,
    data_dir: PathBuf,
    scratch_id: u64,
    scratch_allow: Allowance,
    data_allow: Allowance,
    /// The largest file, in bytes.
    pub file_max: u64,
    warned: Mutex<HashSet<Refusal>>,
    on_refusal: Box<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for RunDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunDisk")
            .field("tenant", &self.tenant)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// What a run's account is opened with.
pub struct RunSpec<'a> {
    /// The run's tenant (`""` for the data root's own jobs).
    pub tenant: &'a str,
    /// The tenant's quota (`disk_mb`, `disk_files`).
    pub tenant_allow: Allowance,
    /// The job's data folder (the key runs of the job share).
    pub data_dir: &'a Path,
    /// What the run may hold (its `limits`' disk part).
    pub allow: RunAllowance,
    /// What the scratch holds at the start (the working copy).
    pub scratch: Usage,
    /// What the data folder holds, measured now, when no run of the job
    /// is in progress ([`DiskLedger::data_in_use`]); `None` keeps the
    /// ledger's count.
    pub data: Option<Usage>,
    /// Called with a sentence naming the limit the first time each limit
    /// refuses something (the run's log).
    pub on_refusal: Box<dyn Fn(&str) + Send + Sync>,
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

impl DiskLedger {
    /// Whether a run of the job owning `data_dir` is in progress (its
    /// count is then live and must not be measured again).
    pub fn data_in_use(&self, data_dir: &Path) -> bool {
        let st = self.state.lock().expect("disk ledger");
        st.data.get(data_dir).is_some_and(|f| f.live > 0)
    }

    /// What the ledger knows a tenant holds.
    pub fn tenant_usage(&self, tenant: &str) -> Usage {
        let st = self.state.lock().expect("disk ledger");
        st.tenants.get(tenant).copied().unwrap_or_default()
    }

    /// Whether the tenant's data folders have been measured since the
    /// host started (see [`DiskLedger::seed`]).
    pub fn is_seeded(&self, tenant: &str) -> bool {
        self.state
            .lock()
            .expect("disk ledger")
            .seeded
            .contains(tenant)
    }

    /// Counts a tenant's data folders, measured once (before its first
    /// run on this host, when it has a disk quota); folders the ledger
    /// already counts keep their count.
    pub fn seed(&self, tenant: &str, folders: Vec<(PathBuf, Usage)>) {
        let mut st = self.state.lock().expect("disk ledger");
        let st = &mut *st;
        if !st.seeded.insert(tenant.to_string()) {
            return;
        }
        let total = st.tenants.entry(tenant.to_string()).or_default();
        for (path, used) in folders {
            if let std::collections::hash_map::Entry::Vacant(v) = st.data.entry(path) {
                add(total, used);
                v.insert(Folder {
                    used,
                    ..Folder::default()
                });
            }
        }
    }

    /// Opens a run's account.
    pub fn open(self: &Arc<Self>, spec: RunSpec<'_>) -> RunDisk {
        let a = spec.allow;
        let mut st = self.state.lock().expect("disk ledger");
        let st = &mut *st;
        let id = st.next_scratch;
        st.next_scratch += 1;
        let total = st.tenants.entry(spec.tenant.to_string()).or_default();
        add(total, spec.scratch);
        st.scratch.insert(
            id,
            Folder {
                used: spec.scratch,
                live: 1,
                sizes: HashMap::new(),
            },
        );
        let folder = st.data.entry(spec.data_dir.to_path_buf()).or_default();
        if folder.live == 0
            && let Some(measured) = spec.data
        {
            sub(total, folder.used);
            add(total, measured);
            folder.used = measured;
            folder.sizes.clear();
        }
        folder.live += 1;
        RunDisk {
            ledger: self.clone(),
            tenant: spec.tenant.to_string(),
            tenant_allow: spec.tenant_allow,
            data_dir: spec.data_dir.to_path_buf(),
            scratch_id: id,
            scratch_allow: a.scratch,
            data_allow: a.data,
            file_max: a.file_max,
            warned: Mutex::new(HashSet::new()),
            on_refusal: spec.on_refusal,
        }
    }

    /// Forgets a data folder (its job was removed).
    pub fn forget_data(&self, data_dir: &Path, tenant: &str) {
        let mut st = self.state.lock().expect("disk ledger");
        if let Some(f) = st.data.remove(data_dir)
            && let Some(total) = st.tenants.get_mut(tenant)
        {
            sub(total, f.used);
        }
    }
}

fn add(u: &mut Usage, d: Usage) {
    u.bytes = u.bytes.saturating_add(d.bytes);
    u.files = u.files.saturating_add(d.files);
}

fn sub(u: &mut Usage, d: Usage) {
    u.bytes = u.bytes.saturating_sub(d.bytes);
    u.files = u.files.saturating_sub(d.files);
}

/// Whether `used + more` fits `allow`; the first limit that does not.
fn fits(
    used: Usage,
    more: Usage,
    allow: Allowance,
    bytes: Refusal,
    files: Refusal,
) -> Result<(), Refusal> {
    if more.bytes > 0
        && allow
            .bytes
            .is_some_and(|max| used.bytes.saturating_add(more.bytes) > max)
    {
        return Err(bytes);
    }
    if more.files > 0
        && allow
            .files
            .is_some_and(|max| used.files.saturating_add(more.files) > max)
    {
        return Err(files);
    }
    Ok(())
}

impl RunDisk {
    fn folder<'s>(&self, st: &'s mut State, pool: Pool) -> &'s mut Folder {
        match pool {
            Pool::Scratch => st.scratch.get_mut(&self.scratch_id),
            Pool::Data => st.data.get_mut(&self.data_dir),
        }
        .expect("an open run's folder")
    }

    /// Checks that `more` fits the pool and the tenant, and counts it.
    fn grow_locked(&self, st: &mut State, pool: Pool, more: Usage) -> Result<(), Refusal> {
        let (allow, rb, rf) = match pool {
            Pool::Scratch => (
                self.scratch_allow,
                Refusal::ScratchBytes,
                Refusal::ScratchFiles,
            ),
            Pool::Data => (self.data_allow, Refusal::DataBytes, Refusal::DataFiles),
        };
        let used = self.folder(st, pool).used;
        fits(used, more, allow, rb, rf)?;
        let total = st.tenants.get(&self.tenant).copied().unwrap_or_default();
        fits(
            total,
            more,
            self.tenant_allow,
            Refusal::TenantBytes,
            Refusal::TenantFiles,
        )?;
        add(&mut self.folder(st, pool).used, more);
        add(st.tenants.entry(self.tenant.clone()).or_default(), more);
        Ok(())
    }

    fn shrink_locked(&self, st: &mut State, pool: Pool, less: Usage) {
        let f = self.folder(st, pool);
        let less = Usage {
            bytes: less.bytes.min(f.used.bytes),
            files: less.files.min(f.used.files),
        };
        sub(&mut f.used, less);
        if let Some(total) = st.tenants.get_mut(&self.tenant) {
            sub(total, less);
        }
    }

    /// Counts `more` in `pool` if it fits every limit; otherwise refuses
    /// (and says so once per limit).
    pub fn grow(&self, pool: Pool, more: Usage) -> Result<(), Refusal> {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        let r = self.grow_locked(&mut st, pool, more);
        drop(st);
        r.inspect_err(|r| self.refused(*r))
    }

    /// Counts `less` out of `pool`.
    pub fn shrink(&self, pool: Pool, less: Usage) {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        self.shrink_locked(&mut st, pool, less);
    }

    /// Learns a file's size, unless already known; returns the size known.
    pub fn know(&self, pool: Pool, file: FileId, size: u64) -> u64 {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        *self.folder(&mut st, pool).sizes.entry(file).or_insert(size)
    }

    /// The size the ledger knows for a file.
    pub fn size_of(&self, pool: Pool, file: FileId) -> Option<u64> {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        self.folder(&mut st, pool).sizes.get(&file).copied()
    }

    /// Sets a file's size to `size` (a write reaching `size`, or a
    /// truncation to it when `exact`), counting the growth first: refused
    /// beyond `limits.file_mb` or any limit of the pool or tenant. Returns
    /// the size it had. `current` is its size when the ledger does not
    /// know it yet.
    pub fn resize(
        &self,
        pool: Pool,
        file: FileId,
        current: u64,
        size: u64,
        exact: bool,
    ) -> Result<u64, Refusal> {
        if size > self.file_max {
            self.refused(Refusal::FileSize);
            return Err(Refusal::FileSize);
        }
        let mut st = self.ledger.state.lock().expect("disk ledger");
        let old = *self
            .folder(&mut st, pool)
            .sizes
            .entry(file)
            .or_insert(current);
        let r = if size > old {
            self.grow_locked(
                &mut st,
                pool,
                Usage {
                    bytes: size - old,
                    files: 0,
                },
            )
        } else {
            if exact {
                self.shrink_locked(
                    &mut st,
                    pool,
                    Usage {
                        bytes: old - size,
                        files: 0,
                    },
                );
            }
            Ok(())
        };
        if r.is_ok() && (exact || size > old) {
            self.folder(&mut st, pool).sizes.insert(file, size);
        }
        drop(st);
        r.map(|()| old).inspect_err(|r| self.refused(*r))
    }

    /// Forgets a file whose last name is gone, counting its bytes and one
    /// file out; `size` is its size when the ledger does not know it.
    pub fn removed(&self, pool: Pool, file: Option<FileId>, size: u64, files: u64) {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        let size = file
            .and_then(|id| self.folder(&mut st, pool).sizes.remove(&id))
            .unwrap_or(size);
        self.shrink_locked(&mut st, pool, Usage { bytes: size, files });
    }

    /// What `pool` holds as far as the ledger knows.
    pub fn used(&self, pool: Pool) -> Usage {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        self.folder(&mut st, pool).used
    }

    /// Replaces what `pool` holds with a measurement (a native run's
    /// folders measured after, or while, it writes).
    pub fn report(&self, pool: Pool, measured: Usage) {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        let f = self.folder(&mut st, pool);
        let old = std::mem::replace(&mut f.used, measured);
        f.sizes.clear();
        let total = st.tenants.entry(self.tenant.clone()).or_default();
        sub(total, old);
        add(total, measured);
    }

    /// What may still be added to `pool`, the tenant's allowance included
    /// (what a native run's own enforcement may be given).
    pub fn room(&self, pool: Pool) -> Usage {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        let allow = match pool {
            Pool::Scratch => self.scratch_allow,
            Pool::Data => self.data_allow,
        };
        let used = self.folder(&mut st, pool).used;
        let total = st.tenants.get(&self.tenant).copied().unwrap_or_default();
        let left = |max: Option<u64>, u: u64| max.map_or(u64::MAX, |m| m.saturating_sub(u));
        Usage {
            bytes: left(allow.bytes, used.bytes).min(left(self.tenant_allow.bytes, total.bytes)),
            files: left(allow.files, used.files).min(left(self.tenant_allow.files, total.files)),
        }
    }

    /// The sentence naming a limit, for the run's log.
    pub fn describe(&self, r: Refusal) -> String {
        let used = |p| self.used(p);
        let tenant = || {
            let st = self.ledger.state.lock().expect("disk ledger");
            st.tenants.get(&self.tenant).copied().unwrap_or_default()
        };
        let max = |o: Option<u64>| o.unwrap_or(u64::MAX);
        match r {
            Refusal::ScratchBytes => format!(
                "Write refused: the run's working copy and /tmp hold {} MiB, their limit {} MiB (limits.scratch_mb)",
                mib(used(Pool::Scratch).bytes),
                mib(max(self.scratch_allow.bytes))
            ),
            Refusal::ScratchFiles => format!(
                "File creation refused: the run's working copy and /tmp hold {} files and folders, their limit (limits.scratch_files)",
                used(Pool::Scratch).files
            ),
            Refusal::DataBytes => format!(
                "Write refused: the job's /data holds {} MiB, its limit {} MiB (limits.data_mb)",
                mib(used(Pool::Data).bytes),
                mib(max(self.data_allow.bytes))
            ),
            Refusal::DataFiles => format!(
                "File creation refused: the job's /data holds {} files and folders, its limit (limits.data_files)",
                used(Pool::Data).files
            ),
            Refusal::TenantBytes => format!(
                "Write refused: {} holds {} MiB on disk, its quota {} MiB (disk_mb)",
                self.who(),
                mib(tenant().bytes),
                mib(max(self.tenant_allow.bytes))
            ),
            Refusal::TenantFiles => format!(
                "File creation refused: {} holds {} files and folders on disk, its quota (disk_files)",
                self.who(),
                tenant().files
            ),
            Refusal::FileSize => format!(
                "Write refused: a file would grow past {} MiB, the file size limit (limits.file_mb)",
                mib(self.file_max)
            ),
        }
    }

    /// The tenant, as log lines name it.
    fn who(&self) -> String {
        match self.tenant.as_str() {
            "" => "the tenant".to_string(),
            t => format!("tenant '{t}'"),
        }
    }

    /// Says once per limit that it refused something.
    fn refused(&self, r: Refusal) {
        if self.warned.lock().expect("warned").insert(r) {
            (self.on_refusal)(&self.describe(r));
        }
    }
}

impl Drop for RunDisk {
    fn drop(&mut self) {
        let mut st = self.ledger.state.lock().expect("disk ledger");
        let scratch = st.scratch.remove(&self.scratch_id).map(|f| f.used);
        if let Some(f) = st.data.get_mut(&self.data_dir) {
            f.live = f.live.saturating_sub(1);
            if f.live == 0 {
                f.sizes.clear();
            }
        }
        if let (Some(used), Some(total)) = (scratch, st.tenants.get_mut(&self.tenant)) {
            sub(total, used);
        }
    }
}

/// What `dir` holds (not counting `dir` itself), without following
/// symlinks; stops counting after `max_files` entries (a folder with more
/// is over its limit anyway). Unreadable entries are skipped. Blocking.
pub fn measure(dir: &Path, max_files: u64) -> Usage {
    let mut u = Usage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if u.files >= max_files {
                return u;
            }
            u.files += 1;
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                u.bytes = u.bytes.saturating_add(meta.len());
            }
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 MiB and 3 entries of scratch, 2 MiB and 10 entries of data, 1 MiB
    /// files.
    fn limits() -> RunAllowance {
        RunAllowance {
            scratch: Allowance {
                bytes: Some(1 << 20),
                files: Some(3),
            },
            data: Allowance {
                bytes: Some(2 << 20),
                files: Some(10),
            },
            file_max: 1 << 20,
        }
    }

    fn open<'a>(
        ledger: &Arc<DiskLedger>,
        data: &'a Path,
        l: &'a RunAllowance,
        tenant: Allowance,
    ) -> RunDisk {
        ledger.open(RunSpec {
            tenant: "t",
            tenant_allow: tenant,
            data_dir: data,
            allow: *l,
            scratch: Usage::default(),
            data: (!ledger.data_in_use(data)).then(Usage::default),
            on_refusal: Box::new(|_| {}),
        })
    }

    #[test]
    fn growth_past_a_limit_is_refused_and_frees_come_back() {
        let ledger = Arc::default();
        let l = limits();
        let run = open(&ledger, Path::new("/d"), &l, Allowance::default());
        let f = (1, 1);
        assert_eq!(run.resize(Pool::Scratch, f, 0, 1 << 20, false), Ok(0));
        assert_eq!(
            run.resize(Pool::Scratch, f, 0, (1 << 20) + 1, false),
            Err(Refusal::FileSize)
        );
        assert_eq!(
            run.resize(Pool::Scratch, (1, 2), 0, 1, false),
            Err(Refusal::ScratchBytes)
        );
        // A write inside the file costs nothing.
        assert_eq!(run.resize(Pool::Scratch, f, 0, 10, false), Ok(1 << 20));
        assert_eq!(run.used(Pool::Scratch).bytes, 1 << 20);
        run.removed(Pool::Scratch, Some(f), 0, 0);
        assert_eq!(run.used(Pool::Scratch).bytes, 0);
        assert!(
            run.grow(Pool::Scratch, Usage { bytes: 0, files: 3 })
                .is_ok()
        );
        assert_eq!(
            run.grow(Pool::Scratch, Usage { bytes: 0, files: 1 }),
            Err(Refusal::ScratchFiles)
        );
        // A truncation frees.
        let g = (1, 3);
        run.resize(Pool::Data, g, 0, 2 << 20, false).unwrap_err(); // file_mb
        run.resize(Pool::Data, g, 0, 1 << 20, false).unwrap();
        run.resize(Pool::Data, g, 0, 0, true).unwrap();
        assert_eq!(run.used(Pool::Data).bytes, 0);
    }

    #[test]
    fn concurrent_runs_share_a_data_folder() {
        let ledger = Arc::default();
        let l = limits();
        let a = open(&ledger, Path::new("/d"), &l, Allowance::default());
        let b = open(&ledger, Path::new("/d"), &l, Allowance::default());
        a.resize(Pool::Data, (1, 1), 0, 1 << 20, false).unwrap();
        b.resize(Pool::Data, (1, 2), 0, 1 << 20, false).unwrap();
        assert_eq!(
            b.resize(Pool::Data, (1, 3), 0, 1, false),
            Err(Refusal::DataBytes),
            "two runs together stop at data_mb"
        );
        drop(a);
        drop(b);
        // The next run keeps the count when nothing was measured.
        let c = ledger.open(RunSpec {
            data: None,
            ..spec(Path::new("/d"), &l)
        });
        assert_eq!(c.used(Pool::Data).bytes, 2 << 20);
        assert_eq!(c.room(Pool::Data).bytes, 0);
    }

    fn spec<'a>(data: &'a Path, l: &'a RunAllowance) -> RunSpec<'a> {
        RunSpec {
            tenant: "t",
            tenant_allow: Allowance::default(),
            data_dir: data,
            allow: *l,
            scratch: Usage::default(),
            data: None,
            on_refusal: Box::new(|_| {}),
        }
    }

    #[test]
    fn a_tenant_allowance_bounds_its_jobs_together() {
        let ledger: Arc<DiskLedger> = Arc::default();
        let l = limits();
        let t = Allowance {
            bytes: Some(3 << 20),
            files: Some(100),
        };
        let a = open(&ledger, Path::new("/a"), &l, t);
        let b = open(&ledger, Path::new("/b"), &l, t);
        a.resize(Pool::Data, (1, 1), 0, 1 << 20, false).unwrap();
        a.resize(Pool::Scratch, (1, 2), 0, 1 << 20, false).unwrap();
        b.resize(Pool::Data, (1, 3), 0, 1 << 20, false).unwrap();
        assert_eq!(
            b.resize(Pool::Data, (1, 4), 0, 1, false),
            Err(Refusal::TenantBytes)
        );
        drop(a); // its scratch is gone, its data stays counted
        assert_eq!(ledger.tenant_usage("t").bytes, 2 << 20);
        b.resize(Pool::Data, (1, 4), 0, 1 << 20, false).unwrap();
    }

    #[test]
    fn the_first_refusal_of_each_limit_is_told_once() {
        let ledger: Arc<DiskLedger> = Arc::default();
        let l = limits();
        let told = Arc::new(Mutex::new(Vec::new()));
        let sink = told.clone();
        let run = ledger.open(RunSpec {
            on_refusal: Box::new(move |m| sink.lock().unwrap().push(m.to_string())),
            ..spec(Path::new("/d"), &l)
        });
        for _ in 0..3 {
            let _ = run.resize(Pool::Data, (1, 1), 0, 3 << 20, false);
            let _ = run.grow(
                Pool::Data,
                Usage {
                    bytes: 3 << 20,
                    files: 0,
                },
            );
        }
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 2, "{told:?}");
        assert!(told[0].contains("limits.file_mb"), "{told:?}");
        assert!(told[1].contains("limits.data_mb"), "{told:?}");
    }

    #[test]
    fn measuring_counts_apparent_sizes_and_stops_at_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a"), b"12345").unwrap();
        let f = std::fs::File::create(dir.path().join("sparse")).unwrap();
        f.set_len(1 << 30).unwrap();
        let u = measure(dir.path(), 100);
        assert_eq!(
            u,
            Usage {
                bytes: (1 << 30) + 5,
                files: 3
            }
        );
        assert_eq!(measure(dir.path(), 1).files, 1);
    }
}
