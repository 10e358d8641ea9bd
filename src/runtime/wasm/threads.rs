//! The threads guests run on: a runtime of their own, so that guests
//! (which yield only at epoch ticks) never occupy the threads that answer
//! the host's requests, at a lower scheduling priority (nice
//! [`GUEST_NICE`]) so that the kernel prefers the host's own threads when
//! guests keep every core busy. Its blocking pool (WASI file calls) is
//! bounded too.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

use super::super::Outcome;
use super::crashed;

/// The nice value of the guests' threads (the host's stay at 0).
pub const GUEST_NICE: i32 = 10;

/// Most threads the guests' WASI file calls may block at once.
pub const MAX_BLOCKING: usize = 64;

/// The guests' runtime, started on first use and shut down (without
/// waiting) when dropped.
#[derive(Default)]
pub struct GuestThreads {
    runtime: OnceLock<Result<Runtime, String>>,
}

impl GuestThreads {
    /// A handle to the guests' runtime, starting it on first use: one
    /// worker per core.
    pub fn handle(&self) -> Result<Handle, String> {
        let rt = self.runtime.get_or_init(|| {
            let workers = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2);
            Builder::new_multi_thread()
                .worker_threads(workers)
                .max_blocking_threads(MAX_BLOCKING)
                .thread_name("wasm-guest")
                .on_thread_start(lower_priority)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        });
        match rt {
            Ok(rt) => Ok(rt.handle().clone()),
            Err(e) => Err(e.clone()),
        }
    }
}

impl Drop for GuestThreads {
    fn drop(&mut self) {
        if let Some(Ok(rt)) = self.runtime.take() {
            // Dropping a runtime may happen inside another one's task:
            // never block there.
            rt.shutdown_background();
        }
    }
}

/// Gives the calling thread the guests' nice value (raising it is always
/// allowed; a failure leaves the thread as it was).
fn lower_priority() {
    // SAFETY: gettid and setpriority take no pointers; PRIO_PROCESS with a
    // thread id changes that thread only (Linux).
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, GUEST_NICE);
    }
}

/// Runs `run` on the guests' runtime and waits for its outcome. If the
/// caller stops waiting, the run is aborted with it.
pub async fn run_on(
    threads: &Handle,
    run: impl Future<Output = Outcome> + Send + 'static,
) -> Outcome {
    struct AbortOnDrop(tokio::task::JoinHandle<Outcome>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(threads.spawn(run));
    match (&mut task.0).await {
        Ok(outcome) => outcome,
        Err(e) => crashed(format!("the guest's task ended abnormally: {e}")),
    }
}
