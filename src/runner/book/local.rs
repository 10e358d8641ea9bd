//! The run book of one host: its data root and its file locks. A run
//! asked for starts here at once (registered in the host's [`Runs`]);
//! history, output and status are the files of [`crate::store`]; a
//! singleton continuous job is this host's while it holds
//! `singleton.job.lock`.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{JobFacts, JobPlace, Lease, Occurrence, QueuedRun, RunBook, RunOutput, TickStart};
use crate::job::{Job, JobType};
use crate::runner::background::Runs;
use crate::runner::{RunError, RunRequest, Runner};
use crate::store::history;
use crate::store::layout::{OUTPUT_LOG, SCHEDULER_LOG};
use crate::store::lock::{JobLock, SINGLETON_LOCK_FILE};
use crate::store::run::RunInfo;

/// How often a host without a singleton's lock file tries again.
const SINGLETON_RETRY: Duration = Duration::from_secs(5);

/// The run book of one host's data root.
pub struct LocalBook {
    runs: Arc<Runs>,
}

impl LocalBook {
    /// A book whose runs start in `runs`, the host's registry of runs in
    /// flight.
    pub fn new(runs: Arc<Runs>) -> LocalBook {
        LocalBook { runs }
    }
}

/// `f` on a blocking thread (file-system work off the async threads).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)
}

#[async_trait]
impl RunBook for LocalBook {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }

    async fn submit(&self, runner: &Runner, req: RunRequest) -> Result<Result<String, RunError>> {
        Ok(self
            .runs
            .start(runner, req)
            .await
            .map(|r| r.id().to_string()))
    }

    async fn history(&self, job: &JobPlace) -> Result<Option<Vec<RunInfo>>> {
        let dir = job.data_dir.clone();
        Ok(blocking(move || dir.is_dir().then(|| history::list(&dir))).await?)
    }

    async fn run(&self, job: &JobPlace, id: &str) -> Result<Option<RunInfo>> {
        let (dir, id) = (job.data_dir.clone(), id.to_string());
        Ok(blocking(move || history::get(&dir, &id)).await?)
    }

    async fn output(&self, job: &JobPlace, id: &str) -> Result<Option<Box<dyn RunOutput>>> {
        if self.run(job, id).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(Box::new(FileOutput {
            file: job.data_dir.join(id).join(OUTPUT_LOG),
            dir: job.data_dir.clone(),
            id: id.to_string(),
        })))
    }

    async fn request_stop(&self, job: &JobPlace, id: &str) -> Result<bool> {
        // Only a run of this tenant's job: its record must be there.
        Ok(self.run(job, id).await?.is_some() && self.runs.stop(&job.data_dir.join(id)))
    }

    async fn queued(&self) {
        std::future::pending().await
    }

    async fn claim_queued(&self, _max: u32) -> Result<Vec<QueuedRun>> {
        Ok(Vec::new())
    }

    async fn schedule_base(&self, job: &JobPlace) -> Result<Option<DateTime<Utc>>> {
        let dir = job.data_dir.clone();
        Ok(blocking(move || history::latest(&dir).and_then(|r| r.status.start_time)).await?)
    }

    async fn claim_tick(&self, _: &Runner, _: &Job, _: &str, _: Occurrence) -> TickStart {
        TickStart::Start(None)
    }

    async fn job_current(&self, _: &str, _: JobType, _: &str) -> bool {
        true
    }

    async fn sync_jobs(&self) {}

    async fn job_facts(&self, job: &JobPlace) -> JobFacts {
        let (dir, t) = (job.data_dir.clone(), job.job_type);
        blocking(move || facts(&dir, t)).await.unwrap_or_default()
    }

    async fn running_elsewhere(&self, _: &JobPlace) -> Result<bool> {
        Ok(false)
    }

    fn changing(&self, _: &str, _: JobType, _: &str) -> Box<dyn Send + '_> {
        Box::new(())
    }

    async fn publish(&self, _: &str, _: &Job) -> Result<()> {
        Ok(())
    }

    async fn forget_job(&self, _: &str, _: JobType, _: &str) -> Result<()> {
        Ok(())
    }

    async fn record_continuous(&self, _: &JobPlace, _: &str) -> Result<()> {
        Ok(())
    }

    async fn singleton(
        &self,
        job: &JobPlace,
        instance: &str,
    ) -> std::io::Result<Option<Box<dyn Lease>>> {
        Ok(
            JobLock::try_acquire_file(&job.data_dir, SINGLETON_LOCK_FILE, instance)?
                .map(|l| Box::new(FileLease(l)) as Box<dyn Lease>),
        )
    }

    fn singleton_retry(&self) -> Duration {
        SINGLETON_RETRY
    }

    async fn rejoined(&self) {
        std::future::pending().await
    }
}

/// What a job's JSON says of its runs and instances, from its data folder
/// `dir` on this host.
pub fn facts(dir: &Path, t: JobType) -> JobFacts {
    JobFacts {
        latest_run: match t {
            JobType::Triggered => history::latest(dir),
            JobType::Continuous => None,
        },
        scheduler_log: dir.join(SCHEDULER_LOG).exists(),
        statuses: match t {
            JobType::Continuous => crate::store::instance::statuses(dir),
            JobType::Triggered => Vec::new(),
        },
    }
}

/// A run's `output_log.txt` in its folder.
struct FileOutput {
    file: PathBuf,
    /// The job's data folder and the run's id (its record).
    dir: PathBuf,
    id: String,
}

#[async_trait]
impl RunOutput for FileOutput {
    fn file(&self) -> Option<&Path> {
        Some(&self.file)
    }

    async fn size(&self) -> std::io::Result<u64> {
        let file = self.file.clone();
        blocking(move || match std::fs::metadata(&file) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        })
        .await?
    }

    async fn read(&self, offset: u64, max: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        let (file, mut buf) = (self.file.clone(), std::mem::take(out));
        *out = blocking(move || read_from(&file, offset, max, &mut buf).map(|()| buf)).await??;
        Ok(())
    }

    async fn ended(&self) -> bool {
        let (dir, id) = (self.dir.clone(), self.id.clone());
        blocking(move || history::get(&dir, &id).is_none_or(|r| r.status.status.is_final()))
            .await
            .unwrap_or(true)
    }
}

/// Appends up to `max` bytes of `path` from `offset` to `out`; a file not
/// there yet reads as empty.
fn read_from(path: &Path, offset: u64, max: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    let Some((mut f, _)) = crate::store::fsutil::open_regular(path)? else {
        return Ok(());
    };
    f.seek(SeekFrom::Start(offset))?;
    f.take(max as u64).read_to_end(out)?;
    Ok(())
}

/// A singleton's `singleton.job.lock`, held while the job runs here: never
/// lost.
struct FileLease(#[allow(dead_code)] JobLock);

#[async_trait]
impl Lease for FileLease {
    async fn still_held(&self) -> bool {
        true
    }

    async fn lost(&self) {
        std::future::pending().await
    }

    fn disown(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::run::{RunStatus, StatusFile};

    const RUN: &str = "202601010000000001";

    fn place(dir: &Path, t: JobType) -> JobPlace {
        JobPlace {
            tenant: String::new(),
            job_type: t,
            name: "job".into(),
            data_dir: dir.to_path_buf(),
        }
    }

    fn record(dir: &Path, status: RunStatus, output: &str) {
        let run = dir.join(RUN);
        std::fs::create_dir_all(&run).unwrap();
        StatusFile {
            trigger: Some("External - test".into()),
            status,
            start_time: Some(Utc::now()),
            end_time: None,
            exit_code: None,
            limit: None,
            fuel_consumed: None,
        }
        .write(&run)
        .unwrap();
        std::fs::write(run.join(OUTPUT_LOG), output).unwrap();
    }

    #[tokio::test]
    async fn runs_and_their_output_are_the_files_of_the_data_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let book = LocalBook::new(Arc::default());
        let missing = place(&tmp.path().join("none"), JobType::Triggered);
        assert!(book.history(&missing).await.unwrap().is_none());
        let job = place(tmp.path(), JobType::Triggered);
        assert_eq!(book.history(&job).await.unwrap().unwrap().len(), 0);
        assert!(book.output(&job, RUN).await.unwrap().is_none());
        // (A run is in progress while its host holds the job's lock.)
        let lock = JobLock::try_acquire(tmp.path(), "host-a").unwrap().unwrap();
        record(tmp.path(), RunStatus::Running, "hello\nworld\n");
        assert_eq!(book.history(&job).await.unwrap().unwrap()[0].id, RUN);
        assert_eq!(book.run(&job, RUN).await.unwrap().unwrap().id, RUN);
        assert!(book.schedule_base(&job).await.unwrap().is_some());
        let out = book.output(&job, RUN).await.unwrap().unwrap();
        assert_eq!(
            out.file(),
            Some(tmp.path().join(RUN).join(OUTPUT_LOG).as_path())
        );
        assert_eq!(out.size().await.unwrap(), 12);
        let mut buf = Vec::new();
        out.read(6, 100, &mut buf).await.unwrap();
        assert_eq!(buf, b"world\n");
        assert!(!out.ended().await);
        record(tmp.path(), RunStatus::Success, "hello\nworld\n");
        drop(lock);
        assert!(out.ended().await);
        // A run this book did not start is not stopped through it.
        assert!(!book.request_stop(&job, RUN).await.unwrap());
        let facts = book.job_facts(&job).await;
        assert_eq!(facts.latest_run.unwrap().id, RUN);
        assert!(!facts.scheduler_log);
    }

    #[tokio::test]
    async fn a_singleton_is_one_holders_until_it_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let book = LocalBook::new(Arc::default());
        let job = place(tmp.path(), JobType::Continuous);
        let held = book.singleton(&job, "host-a").await.unwrap().unwrap();
        assert!(held.still_held().await);
        assert!(book.singleton(&job, "host-b").await.unwrap().is_none());
        drop(held);
        assert!(book.singleton(&job, "host-b").await.unwrap().is_some());
    }
}
