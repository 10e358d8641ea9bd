//! A stop request for a running job, shared between whoever asks (Ctrl-C,
//! the API later) and the executor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A clonable stop signal with two levels: a stop (graceful: the job is
/// told through its shutdown file and given its `stopping_wait_time`) and a
/// kill (now).
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    inner: Arc<(AtomicBool, Notify)>,
    kill: Arc<(AtomicBool, Notify)>,
}

impl StopSignal {
    /// Asks the run to stop.
    pub fn stop(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is asked for.
    pub async fn stopped(&self) {
        wait(&self.inner).await
    }

    /// Asks the run to end now, without the graceful wait (a stop too).
    pub fn kill(&self) {
        self.kill.0.store(true, Ordering::SeqCst);
        self.kill.1.notify_waiters();
        self.stop();
    }

    /// Whether a kill was asked for.
    pub fn is_killed(&self) -> bool {
        self.kill.0.load(Ordering::SeqCst)
    }

    /// Resolves once a kill is asked for.
    pub async fn killed(&self) {
        wait(&self.kill).await
    }
}

async fn wait(flag: &(AtomicBool, Notify)) {
    loop {
        let notified = flag.1.notified();
        if flag.0.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}
