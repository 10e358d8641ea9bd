//! A run's record in the database, kept up as the run goes: its output
//! appended in batches (read from the local `output_log.txt` as it grows),
//! its status changes, and the stop requests other hosts make. Every write
//! is fenced by the token the run was claimed under: when one is refused
//! (the host was paused past its lease and the run was taken from it), the
//! local run is killed and nothing more is written.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::Cluster;
use super::runs::RunRecord;
use crate::runner::book::{Recorder, Recording};
use crate::runtime::capture::OutputLog;
use crate::runtime::stop::StopSignal;
use crate::store::logline::Level;
use crate::store::run::{RunStatus, StatusFile};

/// How often new output is appended (and stop requests are read).
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Most bytes appended in one batch.
const BATCH: u64 = 256 << 10;
/// Longest the end of a run waits for its record to be written.
const FINISH_GRACE: Duration = Duration::from_secs(10);

/// Logged when a fenced write is refused.
const LOST: &str = "This host no longer owns the run (its lease expired and the cluster took it): killing it; its record stays as the cluster has it";
/// Why a run whose start could not be recorded does not start.
const NOT_STARTED: &str =
    "The run's start could not be recorded in the cluster's database: not started";
/// Logged when the database cannot be reached for a whole lease.
const CUT_OFF: &str = "This host cannot reach the cluster's database for a whole lease (another host may take the run): killing it";

/// The mirror of one run; dropped or finished at the run's end.
pub struct Mirror {
    tx: mpsc::UnboundedSender<Msg>,
    task: tokio::task::JoinHandle<()>,
    cluster: Arc<Cluster>,
    /// Whose job, which, and how many runs its history keeps (pruned at
    /// the run's end).
    tenant: String,
    job: String,
    history_size: usize,
}

enum Msg {
    /// A status change.
    Status(StatusFile),
    /// Replies, once every earlier message is handled, whether `Running`
    /// is recorded.
    Started(tokio::sync::oneshot::Sender<bool>),
}

struct State {
    cluster: Arc<Cluster>,
    rec: RunRecord,
    file: PathBuf,
    offset: u64,
    stop: StopSignal,
    log: Arc<OutputLog>,
    /// The run is no longer this host's: nothing more is written.
    lost: bool,
    /// `Running` is recorded.
    running: bool,
    /// The end is recorded: nothing more is written.
    done: bool,
}

impl Mirror {
    /// Starts mirroring a run (its output log, stop signal and log).
    pub fn start(cluster: Arc<Cluster>, rec: RunRecord, run: Recording) -> Mirror {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        cluster.in_flight(rec.pk, true);
        let mut st = State {
            cluster: cluster.clone(),
            rec,
            file: run.output,
            offset: 0,
            stop: run.stop,
            log: run.log,
            lost: false,
            running: false,
            done: false,
        };
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(Msg::Status(s)) => st.status(&s).await,
                        Some(Msg::Started(reply)) => {
                            let _ = reply.send(st.running && !st.lost);
                        }
                        None => {
                            st.flush_all().await;
                            break;
                        }
                    },
                    _ = tick.tick() => {
                        st.flush().await;
                    }
                }
            }
            st.cluster.in_flight(st.rec.pk, false);
        });
        Mirror {
            tx,
            task,
            cluster,
            tenant: run.tenant,
            job: run.job,
            history_size: run.history_size,
        }
    }
}

#[async_trait]
impl Recorder for Mirror {
    /// Records a status change (after the output written so far).
    fn status(&self, s: &StatusFile) {
        let _ = self.tx.send(Msg::Status(s.clone()));
    }

    /// Waits until the run's `Running` status is recorded: a run starts
    /// only then, so that no host takes it for one that never started.
    async fn started(&self) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Started(tx)).is_err() {
            return Err(NOT_STARTED.into());
        }
        match rx.await {
            Ok(true) => Ok(()),
            _ => Err(NOT_STARTED.into()),
        }
    }

    /// Writes what is left and waits for it (bounded); then keeps the
    /// job's history to its size, once the run has ended (not on the way
    /// to its start).
    async fn finish(self: Box<Self>) {
        let Mirror {
            tx,
            task,
            cluster,
            tenant,
            job,
            history_size,
        } = *self;
        drop(tx);
        let _ = tokio::time::timeout(FINISH_GRACE, task).await;
        if let Err(e) = cluster.prune(&tenant, &job, history_size).await {
            tracing::warn!("pruning the history of {job}: {e:#}");
        }
    }
}

impl State {
    fn lose(&mut self, why: &str) {
        if !self.lost {
            self.lost = true;
            self.log.sys(Level::Err, why);
            self.stop.kill();
        }
    }

    /// A write failed: once this host has gone a whole lease without a
    /// heartbeat, the run is given up (other hosts may be taking it).
    fn failed(&mut self, what: &str, e: anyhow::Error) {
        tracing::warn!("run {}: {what}: {e:#}", self.rec.run_id);
        if self.cluster.lapsed() {
            self.lose(CUT_OFF);
        }
    }

    /// The next batch of new output, whole lines only (unless a batch
    /// holds no line end at all).
    fn next_batch(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&self.file)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            let _ = f.take(BATCH).read_to_end(&mut buf);
        }
        let cut = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if buf.len() as u64 >= BATCH => buf.len(),
            None => 0,
        };
        buf.truncate(cut);
        buf
    }

    /// Appends the next batch of new output; `true` if there may be more.
    async fn flush(&mut self) -> bool {
        if self.lost || self.done {
            return false;
        }
        let buf = self.next_batch();
        match self.cluster.append_output(&self.rec, &buf).await {
            Ok(Some(stop_requested)) => {
                self.offset += buf.len() as u64;
                if stop_requested && !self.stop.is_stopped() {
                    self.log
                        .sys(Level::Info, "Stop requested through the cluster");
                    self.stop.stop();
                }
                buf.len() as u64 == BATCH
            }
            Ok(None) => {
                self.lose(LOST);
                false
            }
            Err(e) => {
                self.failed("appending output", e);
                false
            }
        }
    }

    async fn flush_all(&mut self) {
        for _ in 0..1024 {
            if !self.flush().await {
                break;
            }
        }
    }

    /// Records a status change with the output written before it (large
    /// output goes ahead in batches).
    async fn status(&mut self, s: &StatusFile) {
        if s.status == RunStatus::Initializing || self.done {
            return;
        }
        // A lost connection is retried a few times: a run left `Running`
        // would wait for this host's death to be reaped.
        for attempt in 0..5 {
            if self.lost {
                return;
            }
            let mut buf = self.next_batch();
            while buf.len() as u64 == BATCH && self.flush().await {
                buf = self.next_batch();
            }
            if self.lost {
                return;
            }
            match self.cluster.set_status(&self.rec, s, &buf).await {
                Ok(true) => {
                    self.offset += buf.len() as u64;
                    self.running = s.status == RunStatus::Running;
                    self.done = s.status.is_final();
                    return;
                }
                Ok(false) => return self.lose(LOST),
                // (Left as it is, the record is set Aborted by this host's
                // sweep of the runs it no longer has.)
                Err(e) if attempt == 4 => self.failed("recording its status", e),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}
