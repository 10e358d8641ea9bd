//! Job bundles: a zip or a directory becomes a job folder under
//! `<root>/jobs/{triggered,continuous}/<name>/`, laid out as WebJobs lays it
//! out. Unpacking goes to a staging directory first and the result replaces
//! the job folder in one atomic `renameat2(RENAME_EXCHANGE)`, so a rejected
//! bundle installs nothing and leaves an existing job untouched.

pub mod entry;
pub mod exe;
pub mod extract;
pub mod name;
pub mod settings;

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use extract::ExtractLimits;

use crate::job::{Job, JobType};
use crate::runtime;
use crate::store::fsutil;
use crate::store::layout::Layout;
use crate::store::lock::JobLock;

/// Why a bundle was refused. Each message names what is wrong.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The job name breaks the naming rule.
    #[error("invalid job name '{0}': {1}")]
    InvalidName(String, String),
    /// The bundle path is neither a zip file nor a directory.
    #[error("{0}: not a zip file or a directory")]
    NotABundle(String),
    /// The archive cannot be read.
    #[error("corrupt or truncated zip archive: {0}")]
    Corrupt(String),
    /// An entry name would escape the job folder or is otherwise unsafe.
    #[error("unsafe entry name '{0}': {1}")]
    UnsafeEntry(String, String),
    /// Symlinks are never installed.
    #[error("entry '{0}' is a symbolic link; symlinks are not allowed in job bundles")]
    Symlink(String),
    /// Two entries with the same path.
    #[error("duplicate entry '{0}'")]
    DuplicateEntry(String),
    /// Two entries whose paths differ only in letter case.
    #[error("entry '{0}' collides with another entry that differs only in letter case")]
    CaseCollision(String),
    /// Encrypted entries cannot be checked, so they are refused.
    #[error("entry '{0}' is encrypted; encrypted zip entries are not supported")]
    Encrypted(String),
    /// Too many entries (zip bomb guard).
    #[error("the bundle has more than {0} entries")]
    TooManyEntries(usize),
    /// One entry is larger than the per-entry cap (counted as written).
    #[error("entry '{0}' unpacks to more than {1} bytes")]
    EntryTooLarge(String, u64),
    /// The whole bundle is larger than the total cap (counted as written).
    #[error("the bundle unpacks to more than {0} bytes in total")]
    TooLarge(u64),
    /// A run of the job is in progress; replacing or removing it would pull
    /// the files from under it.
    #[error("job '{0}' is running; deploy or remove it once the run has ended")]
    Running(String),
    /// No script that WebJobs would run.
    #[error("{}", entry::NO_RUNNABLE_SCRIPT)]
    NoRunnableScript,
    /// `settings.job` has a schedule (or time zone) that cannot be used.
    #[error("{0}")]
    InvalidSchedule(String),
    /// `settings.job` is refused whole (too large, too deeply nested).
    #[error("{0}")]
    BadSettings(String),
    /// A file-system operation failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BundleError {
    let what = what.into();
    move |e| BundleError::Io(what, e)
}

/// Installs a bundle as job `name` of kind `job_type`, replacing any job of
/// that name and kind atomically. Returns the installed job (its `error`
/// says if it cannot run on this host, given the host's `executors`).
pub fn install(
    layout: &Layout,
    executors: runtime::ExecutorChoice,
    source: &Path,
    name: &str,
    job_type: JobType,
    limits: ExtractLimits,
) -> Result<Job, BundleError> {
    name::validate(name)?;
    let staging_root = layout.staging_dir();
    std::fs::create_dir_all(&staging_root)
        .map_err(io(format!("creating {}", staging_root.display())))?;
    let staging = fsutil::fresh_dir(&staging_root, name).map_err(io(format!(
        "creating a staging directory in {}",
        staging_root.display()
    )))?;
    let result = (|| {
        unpack(source, &staging, limits)?;
        let script_dir = script_dir(&staging).map_err(io("reading the bundle"))?;
        if entry::find_entry_in(&script_dir)
            .map_err(io("reading the bundle"))?
            .is_none()
        {
            return Err(BundleError::NoRunnableScript);
        }
        let settings = settings::read_checked(&script_dir.join(settings::FILE_NAME))
            .map_err(BundleError::BadSettings)?
            .unwrap_or_default();
        if job_type == JobType::Triggered
            && let Some(problem) = settings.schedule_problem()
        {
            return Err(BundleError::InvalidSchedule(problem));
        }
        if let Some(problem) = settings.network_problem() {
            return Err(BundleError::BadSettings(problem));
        }
        let target = layout.job_dir(job_type, name);
        std::fs::create_dir_all(target.parent().expect("job dir has a parent"))
            .map_err(io(format!("creating {}", layout.jobs_root().display())))?;
        let _lock = lock_idle_job(layout, job_type, name)?;
        swap_into_place(&staging, &target)
    })();
    // `staging` now holds the old job (after an exchange) or the rejected
    // bundle; either way it goes.
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    read_job(layout, executors, job_type, name).ok_or(BundleError::NoRunnableScript)
}

fn unpack(source: &Path, dest: &Path, limits: ExtractLimits) -> Result<(), BundleError> {
    let meta = std::fs::metadata(source).map_err(io(source.display().to_string()))?;
    if meta.is_dir() {
        return extract::copy_dir(source, dest, limits);
    }
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(source)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(io(source.display().to_string()))?;
    if meta.is_file() && n >= 2 && &magic[..2] == b"PK" {
        extract::unpack_zip(source, dest, limits)
    } else {
        Err(BundleError::NotABundle(source.display().to_string()))
    }
}

/// Takes a triggered job's run lock so that no run starts (or is in
/// progress) while its files change; fails when a run holds it.
fn lock_idle_job(
    layout: &Layout,
    job_type: JobType,
    name: &str,
) -> Result<Option<JobLock>, BundleError> {
    if job_type != JobType::Triggered {
        return Ok(None);
    }
    let data_dir = layout.data_dir(job_type, name);
    match JobLock::try_acquire(&data_dir, "deploy") {
        Ok(Some(lock)) => Ok(Some(lock)),
        Ok(None) => Err(BundleError::Running(name.to_string())),
        Err(e) => Err(BundleError::Io(
            format!("locking {}", data_dir.display()),
            e,
        )),
    }
}

/// Puts `staging` at `target`: an atomic exchange when a job is already
/// there (the old tree ends up at `staging`), a rename otherwise.
fn swap_into_place(staging: &Path, target: &Path) -> Result<(), BundleError> {
    if target.exists() {
        fsutil::exchange(staging, target).map_err(io(format!("replacing {}", target.display())))
    } else {
        std::fs::rename(staging, target).map_err(io(format!("installing {}", target.display())))
    }
}

/// WebJobs' script directory: descend while a folder holds exactly one
/// entry and that entry is a folder.
pub fn script_dir(job_dir: &Path) -> std::io::Result<PathBuf> {
    let mut dir = job_dir.to_path_buf();
    loop {
        // disable.job (a stopped continuous job) is the host's, not the bundle's.
        let mut it = std::fs::read_dir(&dir)?.filter(|e| {
            e.as_ref().map_or(true, |e| {
                e.file_name() != crate::store::layout::DISABLE_FILE
            })
        });
        let (Some(first), None) = (it.next().transpose()?, it.next()) else {
            return Ok(dir);
        };
        if !first.file_type()?.is_dir() {
            return Ok(dir);
        }
        dir = first.path();
    }
}

/// Reads a deployed job from its folder; `None` if there is no such job.
/// `executors` is the host's `--executor`: whether the job can run here
/// goes into its `error`.
pub fn read_job(
    layout: &Layout,
    executors: runtime::ExecutorChoice,
    job_type: JobType,
    name: &str,
) -> Option<Job> {
    let dir = layout.job_dir(job_type, name);
    if name::validate(name).is_err() || !dir.is_dir() {
        return None;
    }
    let sdir = script_dir(&dir).unwrap_or_else(|_| dir.clone());
    let settings = settings::read(&sdir.join(settings::FILE_NAME)).unwrap_or_default();
    let found = entry::find_entry_in(&sdir).ok().flatten();
    let mut errors: Vec<String> = Vec::new();
    let (run_command, script) = match found {
        Some((file, kind)) => {
            let rel = sdir.strip_prefix(&dir).unwrap_or(Path::new("")).join(&file);
            if let Some(e) = exe_problem(&sdir.join(&file), kind) {
                errors.push(e);
            } else if let Err(e) =
                runtime::executor_for(kind, settings.executor(), executors, &|g| g.installed())
            {
                errors.push(e.to_string());
            }
            (Some(rel.to_string_lossy().into_owned()), Some(kind))
        }
        None => {
            errors.push(entry::NO_RUNNABLE_SCRIPT.to_string());
            (None, None)
        }
    };
    errors.extend(settings.warnings().iter().cloned());
    if job_type == JobType::Triggered
        && let Some(problem) = settings.schedule_problem()
    {
        errors.push(format!("{problem}; the job runs only when triggered"));
    }
    if let Some(problem) = settings.network_problem() {
        errors.push(format!("{problem}; the job gets no network"));
    }
    Some(Job {
        name: name.to_string(),
        job_type,
        dir,
        run_command,
        script,
        error: if errors.is_empty() {
            None
        } else {
            Some(errors.join(" "))
        },
        settings,
    })
}

/// Why an `.exe` entry cannot run on this Linux host, if it cannot: it
/// must be an ELF executable for this machine.
fn exe_problem(path: &Path, kind: entry::ScriptKind) -> Option<String> {
    use exe::{Executable, sniff};
    if kind != entry::ScriptKind::Exe {
        return None;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    match sniff(path) {
        Ok(Executable::Elf) => None,
        Ok(Executable::Windows) => Some(format!(
            "cannot run .exe on a Linux host: {name} is a Windows executable (ship a Linux ELF executable named run.exe or run)"
        )),
        Ok(Executable::ElfOtherMachine(m)) => Some(format!(
            "cannot run {name}: it is an ELF executable for another machine (e_machine {m})"
        )),
        Ok(Executable::Other) => Some(format!("cannot run {name}: it is not an ELF executable")),
        Err(e) => Some(format!("cannot read {name}: {e}")),
    }
}

/// Lists every deployed job, triggered first, each kind by name.
pub fn list_jobs(layout: &Layout, executors: runtime::ExecutorChoice) -> Vec<Job> {
    let mut jobs = Vec::new();
    for t in JobType::ALL {
        let Ok(rd) = std::fs::read_dir(layout.jobs_dir(t)) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| name::validate(n).is_ok())
            .collect();
        names.sort();
        jobs.extend(
            names
                .iter()
                .filter_map(|n| read_job(layout, executors, t, n)),
        );
    }
    jobs
}

/// Removes a job's folder and its data (history included). Returns whether
/// anything was there. Both are gone when this returns; the files are
/// deleted in the background ([`crate::store::trash`]), however many a job
/// left.
pub fn remove(layout: &Layout, job_type: JobType, name: &str) -> Result<bool, BundleError> {
    name::validate(name)?;
    let _lock = lock_idle_job(layout, job_type, name)?;
    let mut existed = false;
    for dir in [
        layout.job_dir(job_type, name),
        layout.data_dir(job_type, name),
    ] {
        existed |= crate::store::trash::discard(layout.root(), &dir)
            .map_err(io(format!("removing {}", dir.display())))?;
    }
    Ok(existed)
}
