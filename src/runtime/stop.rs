//! A stop request for a running job, shared between whoever asks (Ctrl-C,
//! the API later) and the executor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A one-shot, clonable stop signal.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    inner: Arc<(AtomicBool, Notify)>,
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
        loop {
            let notified = self.inner.1.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}
