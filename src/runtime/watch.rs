//! The host-side watch every executor keeps beside a running job: the
//! wall-clock timeout, the idle timeout and stop requests (with WebJobs'
//! graceful-stop contract). Executors race their job against [`watch`] and
//! end the job when it resolves. [`Activity`] is the idle signal it reads:
//! the output capture and the native CPU sampler touch it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Ending;
use super::limits::{LimitKind, Limits};
use super::stop::StopSignal;

/// When the job last showed a sign of life (an output line or CPU progress).
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// Records a sign of life now.
    pub fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Time since the last sign of life.
    pub fn idle_for(&self) -> Duration {
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// WebJobs' graceful stop for continuous jobs: on a stop request the host
/// creates `file` (the job watches `WEBJOBS_SHUTDOWN_FILE`), waits `wait`
/// for the job to exit on its own, and only then kills it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// Host path of the shutdown file (it does not exist until a stop).
    pub file: PathBuf,
    /// `stopping_wait_time`.
    pub wait: Duration,
}

/// Resolves with how the run must end now: its timeout passed, it went
/// idle, or it was asked to stop (after the graceful-stop wait, if any).
/// Never resolves while the job is within its limits.
pub async fn watch(
    limits: &Limits,
    activity: &Activity,
    stop: &StopSignal,
    shutdown: Option<&Shutdown>,
) -> Ending {
    tokio::select! {
        _ = tokio::time::sleep(limits.timeout) => Ending::Limit(LimitKind::Timeout, None),
        _ = idle(activity, limits.idle_timeout) => Ending::Limit(LimitKind::Idle, None),
        _ = stop.stopped() => {
            if let Some(s) = shutdown {
                signal_shutdown(s);
                tokio::select! {
                    _ = tokio::time::sleep(s.wait) => {}
                    _ = stop.killed() => {}
                }
            }
            Ending::Stopped
        }
    }
}

/// Creates the shutdown file. It lives in a folder the job can write, so
/// it is opened without following a symlink the job may have planted there
/// (the host must never write through it). A failure is not fatal: the job
/// is killed after the wait either way.
fn signal_shutdown(s: &Shutdown) {
    use std::os::unix::fs::OpenOptionsExt;
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&s.file);
    if let Err(e) = made {
        tracing::warn!("cannot create the shutdown file {}: {e}", s.file.display());
    }
}

/// Resolves when the job has shown no sign of life for `limit`; never when
/// `limit` is zero (idle timeout disabled).
async fn idle(activity: &Activity, limit: Duration) {
    if limit.is_zero() {
        return std::future::pending().await;
    }
    loop {
        let quiet = activity.idle_for();
        if quiet >= limit {
            return;
        }
        tokio::time::sleep((limit - quiet).max(Duration::from_millis(100))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn graceful_stop_writes_the_file_then_waits() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("now");
        let limits = Limits {
            idle_timeout: Duration::ZERO,
            ..Limits::default()
        };
        let activity = Activity::default();
        let stop = StopSignal::default();
        let shutdown = Shutdown {
            file: file.clone(),
            wait: Duration::from_secs(5),
        };
        let watching = watch(&limits, &activity, &stop, Some(&shutdown));
        tokio::pin!(watching);
        tokio::select! {
            _ = &mut watching => panic!("resolved before any stop"),
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        assert!(!file.exists(), "the shutdown file exists only after a stop");
        stop.stop();
        let started = tokio::time::Instant::now();
        tokio::select! {
            _ = &mut watching => panic!("no grace period"),
            _ = tokio::time::sleep(Duration::from_secs(4)) => {}
        }
        assert!(file.exists(), "a stop creates the shutdown file at once");
        assert_eq!(watching.await, Ending::Stopped);
        assert!(started.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_wins_without_a_stop() {
        let limits = Limits {
            timeout: Duration::from_secs(3),
            idle_timeout: Duration::ZERO,
            ..Limits::default()
        };
        let ending = watch(&limits, &Activity::default(), &StopSignal::default(), None).await;
        assert_eq!(ending, Ending::Limit(LimitKind::Timeout, None));
    }
}
