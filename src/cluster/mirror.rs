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

use tokio::sync::mpsc;

use super::Cluster;
use super::runs::RunRecord;
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

/// The mirror of one run; dropped or finished at the run's end.
pub struct Mirror {
    tx: mpsc::UnboundedSender<StatusFile>,
    task: tokio::task::JoinHandle<()>,
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
}

impl Mirror {
    /// Starts mirroring the run whose output log is `file`.
    pub fn start(
        cluster: Arc<Cluster>,
        rec: RunRecord,
        file: PathBuf,
        stop: StopSignal,
        log: Arc<OutputLog>,
    ) -> Mirror {
        let (tx, mut rx) = mpsc::unbounded_channel::<StatusFile>();
        let mut st = State {
            cluster,
            rec,
            file,
            offset: 0,
            stop,
            log,
            lost: false,
        };
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(s) => st.status(&s).await,
                        None => {
                            st.flush_all().await;
                            return;
                        }
                    },
                    _ = tick.tick() => {
                        st.flush().await;
                    }
                }
            }
        });
        Mirror { tx, task }
    }

    /// Records a status change (after the output written so far).
    pub fn status(&self, s: &StatusFile) {
        let _ = self.tx.send(s.clone());
    }

    /// Writes what is left and waits for it (bounded).
    pub async fn finish(self) {
        drop(self.tx);
        let _ = tokio::time::timeout(FINISH_GRACE, self.task).await;
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

    /// Appends the next batch of new output; `true` if there may be more.
    async fn flush(&mut self) -> bool {
        if self.lost {
            return false;
        }
        let mut buf = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&self.file)
            && f.seek(SeekFrom::Start(self.offset)).is_ok()
        {
            let _ = f.take(BATCH).read_to_end(&mut buf);
        }
        // Whole lines only, unless a batch holds no line end at all.
        let cut = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if buf.len() as u64 >= BATCH => buf.len(),
            None => 0,
        };
        buf.truncate(cut);
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
                tracing::warn!("run {}: appending output: {e:#}", self.rec.run_id);
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

    async fn status(&mut self, s: &StatusFile) {
        self.flush_all().await;
        if self.lost {
            return;
        }
        // A lost connection is retried a few times: a run left `Running`
        // would wait for this host's death to be reaped.
        for attempt in 0..5 {
            let r = match s.status {
                RunStatus::Initializing => return,
                RunStatus::Running => self.cluster.set_running(&self.rec).await,
                _ => self.cluster.set_final(&self.rec, s).await,
            };
            match r {
                Ok(true) => return,
                Ok(false) => return self.lose(LOST),
                Err(e) if attempt == 4 => {
                    tracing::warn!("run {}: recording its status: {e:#}", self.rec.run_id)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}
