//! Output capture shared by every executor: the job's stdout and stderr are
//! OS pipes; a reader thread per pipe splits the bytes into lines (on `\n`,
//! `\r\n` or `\r`, as WebJobs does) and hands them to the run's
//! [`OutputLog`], which timestamps each line, appends the lines of each read
//! to `output_log.txt` in one write as soon as they are split (a host crash
//! loses nothing already read) and enforces the output cap by keeping the
//! head and the tail.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::tail::TailRing;
use super::watch::Activity;
use crate::store::logline::{self, Level};

/// Pending log bytes beyond which they are written without waiting for
/// the end of the read.
const FLUSH_AT: usize = 64 * 1024;

/// Longest line kept whole; longer output is split into lines of this size.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// What one output line costs against the output cap beyond its text: its
/// log prefix and line end on disk (`[MM/dd/yyyy HH:mm:ss > inst: INFO] `,
/// CRLF), and about as much bookkeeping when it is held in the tail. So a
/// flood of empty lines is bounded like a flood of long ones.
pub const LINE_OVERHEAD: u64 = 48;

fn line_cost(text: &str) -> u64 {
    text.len() as u64 + LINE_OVERHEAD
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (`INFO`).
    Stdout,
    /// Standard error (`ERR `).
    Stderr,
}

/// A line as shown to a live watcher (the CLI's console).
#[derive(Debug, Clone, Copy)]
pub enum EchoLine<'a> {
    /// A process output line.
    Output(Stream, &'a str),
    /// An engine (`SYS`) message.
    Sys(Level, &'a str),
}

/// Receives every line that goes into the log, as it goes in.
pub type Echo = Box<dyn Fn(EchoLine<'_>) + Send + Sync>;

struct State {
    file: File,
    /// Formatted lines not yet written: the lines of one read from a pipe
    /// go to the file in one write.
    pending: Vec<u8>,
    roll: Option<Roll>,
    head_left: u64,
    /// Where the newest lines go once the head is full (on disk).
    tail: Option<TailRing>,
    tail_budget: u64,
    tail_path: PathBuf,
    /// Text bytes of the lines that went to the tail.
    tail_text: u64,
    capped: bool,
}

/// A log that rolls: past `at` bytes the file becomes `prev` (replacing
/// it) and a new one starts, as WebJobs' continuous and scheduler logs.
struct Roll {
    path: PathBuf,
    prev: PathBuf,
    at: u64,
    written: u64,
}

impl Roll {
    fn after_write(&mut self, file: &mut File, n: u64) {
        self.written += n;
        if self.written < self.at {
            return;
        }
        if std::fs::rename(&self.path, &self.prev).is_ok()
            && let Ok(f) = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        {
            *file = f;
            self.written = 0;
        }
    }
}

/// A run's `output_log.txt`, written line by line.
pub struct OutputLog {
    state: Mutex<State>,
    instance: String,
    activity: Arc<Activity>,
    first_output: std::sync::OnceLock<Instant>,
    echo: Option<Console>,
    cap_bytes: u64,
}

/// An owned line on its way to the console.
enum EchoMsg {
    Output(Stream, String),
    Sys(Level, String),
}

/// Most lines waiting for a slow console; beyond, lines are not shown (the
/// log still has them), so a stalled terminal can never stall the job or
/// the limits that watch it.
const CONSOLE_BACKLOG: usize = 4096;

/// The console echo: a thread fed through a bounded channel.
struct Console {
    tx: Mutex<Option<std::sync::mpsc::SyncSender<EchoMsg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    skipped: Arc<AtomicU64>,
}

impl Console {
    fn start(echo: Echo) -> io::Result<Console> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<EchoMsg>(CONSOLE_BACKLOG);
        let skipped = Arc::new(AtomicU64::new(0));
        let skipped2 = skipped.clone();
        let thread = std::thread::Builder::new().name("console-echo".into()).spawn(move || {
            for msg in rx {
                match &msg {
                    EchoMsg::Output(stream, text) => echo(EchoLine::Output(*stream, text)),
                    EchoMsg::Sys(level, text) => echo(EchoLine::Sys(*level, text)),
                }
            }
            let n = skipped2.load(Ordering::Relaxed);
            if n > 0 {
                let note = format!("{n} lines were not shown here because the console was too slow; the run's log has them.");
                echo(EchoLine::Sys(Level::Warn, &note));
            }
        })?;
        Ok(Console {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            skipped,
        })
    }

    fn send(&self, msg: EchoMsg) {
        if let Some(tx) = &*self.tx.lock().expect("console lock")
            && tx.try_send(msg).is_err()
        {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn close(&self) {
        drop(self.tx.lock().expect("console lock").take());
        if let Some(t) = self.thread.lock().expect("console lock").take() {
            let _ = t.join();
        }
    }
}

fn level_of(s: Stream) -> Level {
    match s {
        Stream::Stdout => Level::Info,
        Stream::Stderr => Level::Err,
    }
}

impl OutputLog {
    /// Opens (appending) the log at `path`. `cap_bytes` bounds the process
    /// output kept: the first half is written as it comes, the last half is
    /// held back and written when the run ends, with a note of what was
    /// dropped between them. `SYS` lines are never capped.
    pub fn open(
        path: &Path,
        instance: &str,
        cap_bytes: u64,
        echo: Option<Echo>,
    ) -> io::Result<Arc<OutputLog>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Arc::new(OutputLog {
            state: Mutex::new(State {
                file,
                pending: Vec::new(),
                roll: None,
                head_left: cap_bytes / 2,
                tail: None,
                tail_budget: cap_bytes - cap_bytes / 2,
                tail_path: super::tail::path_for(path),
                tail_text: 0,
                capped: false,
            }),
            instance: instance.to_string(),
            activity: Arc::new(Activity::default()),
            first_output: std::sync::OnceLock::new(),
            echo: echo.map(Console::start).transpose()?,
            cap_bytes,
        }))
    }

    /// Opens (appending) a rolling log: past `roll_at` bytes `path` becomes
    /// `prev` and a new file starts. `cap_bytes` bounds the process output
    /// kept, as in [`OutputLog::open`] (`u64::MAX`: no cap, the roll bounds
    /// the file).
    pub fn open_rolling(
        path: &Path,
        prev: &Path,
        roll_at: u64,
        instance: &str,
        cap_bytes: u64,
    ) -> io::Result<Arc<OutputLog>> {
        let log = OutputLog::open(path, instance, cap_bytes, None)?;
        {
            let mut st = log.state.lock().expect("log lock");
            st.roll = Some(Roll {
                path: path.to_path_buf(),
                prev: prev.to_path_buf(),
                at: roll_at,
                written: st.file.metadata().map(|m| m.len()).unwrap_or(0),
            });
        }
        Ok(log)
    }

    /// When the job's first output line arrived, if it has written one.
    pub fn first_output(&self) -> Option<Instant> {
        self.first_output.get().copied()
    }

    /// The run's activity tracker (touched by every output line).
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    /// Adds a line to the pending bytes; [`Self::flush_pending`] writes them.
    fn write_line(&self, st: &mut State, at: DateTime<Utc>, sys: bool, level: Level, text: &str) {
        let line = logline::format(at, &self.instance, sys, level, text);
        st.pending.extend_from_slice(line.as_bytes());
        if st.pending.len() >= FLUSH_AT {
            Self::flush_pending(st);
        }
    }

    fn flush_pending(st: &mut State) {
        if st.pending.is_empty() {
            return;
        }
        // Best effort, as WebJobs: a failed log write must not kill the run.
        let _ = st.file.write_all(&st.pending);
        let n = st.pending.len() as u64;
        st.pending.clear();
        let State { file, roll, .. } = st;
        if let Some(roll) = roll {
            roll.after_write(file, n);
        }
    }

    /// Writes the lines recorded with [`Self::line_batched`] so far.
    pub fn flush(&self) {
        Self::flush_pending(&mut self.state.lock().expect("log lock"));
    }

    fn show(&self, msg: impl FnOnce() -> EchoMsg) {
        if let Some(console) = &self.echo {
            console.send(msg());
        }
    }

    /// Waits until the console has shown every line sent to it. Lines
    /// logged afterwards are written to the log only.
    pub fn close_console(&self) {
        if let Some(console) = &self.echo {
            console.close();
        }
    }

    /// Writes an engine message (`SYS INFO`, `SYS WARN`, `SYS ERR `).
    pub fn sys(&self, level: Level, message: &str) {
        let mut st = self.state.lock().expect("log lock");
        self.write_line(&mut st, Utc::now(), true, level, message);
        Self::flush_pending(&mut st);
        drop(st);
        self.show(|| EchoMsg::Sys(level, message.to_string()));
    }

    /// Records one line of process output and writes it at once.
    pub fn line(&self, stream: Stream, text: &str) {
        self.line_batched(stream, text);
        self.flush();
    }

    /// Records one line of process output; it is written by the next
    /// [`Self::flush`] (or sooner, when enough is pending). The capture
    /// threads flush after each read from a pipe.
    pub fn line_batched(&self, stream: Stream, text: &str) {
        self.activity.touch();
        self.first_output.get_or_init(Instant::now);
        let cost = line_cost(text);
        let at = Utc::now();
        let mut st = self.state.lock().expect("log lock");
        if !st.capped && cost <= st.head_left {
            st.head_left -= cost;
            self.write_line(&mut st, at, false, level_of(stream), text);
            drop(st);
            self.show(|| EchoMsg::Output(stream, text.to_string()));
            return;
        }
        if !st.capped {
            st.capped = true;
            let msg = format!(
                "Output exceeds the limit of {} KiB (limits.output_kb): keeping the first and the last {} KiB.",
                self.cap_bytes / 1024,
                self.cap_bytes / 2048
            );
            self.write_line(&mut st, at, true, Level::Warn, &msg);
            self.show(|| EchoMsg::Sys(Level::Warn, msg));
            let ring = TailRing::new(st.tail_path.clone(), st.tail_budget);
            st.tail = Some(ring);
        }
        st.tail_text += text.len() as u64;
        let prefix = self.prefix_len();
        if let Some(ring) = &mut st.tail {
            // A line longer than the whole tail keeps its beginning.
            let room = (ring.capacity() as usize).saturating_sub(prefix + 2);
            let mut keep = text.len().min(room);
            while !text.is_char_boundary(keep) {
                keep -= 1;
            }
            let line = logline::format(at, &self.instance, false, level_of(stream), &text[..keep]);
            ring.push(line.as_bytes());
        }
    }

    /// Bytes before the text in a process output line.
    fn prefix_len(&self) -> usize {
        // `[MM/dd/yyyy HH:mm:ss > ` + instance + `: LEVL] `
        1 + 19 + 3 + self.instance.len() + 2 + 4 + 2
    }

    /// The stream and text of a process output line as the log has it
    /// (without its line end).
    fn parse_line<'l>(&self, line: &'l [u8]) -> Option<(Stream, &'l str)> {
        let prefix = self.prefix_len();
        let stream = match line.get(prefix - 6..prefix - 2)? {
            b"INFO" => Stream::Stdout,
            _ => Stream::Stderr,
        };
        let text = line.get(prefix..)?;
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        Some((stream, std::str::from_utf8(text).ok()?))
    }

    /// Whether output went past the first half of the cap (so
    /// [`Self::finish`] has a tail to copy from disk).
    pub fn is_capped(&self) -> bool {
        self.state.lock().expect("log lock").tail.is_some()
    }

    /// Ends the log: writes a note of what the cap dropped, then the kept
    /// tail, read back from its file on disk a chunk at a time. Call once,
    /// after every reader has finished.
    pub fn finish(&self) {
        let mut st = self.state.lock().expect("log lock");
        let Some(mut ring) = st.tail.take() else {
            return;
        };
        let mut kept_text = 0u64;
        let kept = ring.scan(&mut |l| {
            kept_text += self.parse_line(l).map_or(0, |(_, t)| t.len() as u64);
        });
        let msg = format!(
            "Output limit: {} bytes ({} lines) were dropped; the last {} lines follow.",
            st.tail_text.saturating_sub(kept_text),
            ring.pushed().saturating_sub(kept),
            kept
        );
        self.write_line(&mut st, Utc::now(), true, Level::Warn, &msg);
        Self::flush_pending(&mut st);
        self.show(|| EchoMsg::Sys(Level::Warn, msg));
        let st = &mut *st;
        ring.scan(&mut |l| {
            st.pending.extend_from_slice(l);
            st.pending.push(b'\n');
            if st.pending.len() >= FLUSH_AT {
                Self::flush_pending(st);
            }
            if let Some((stream, text)) = self.parse_line(l) {
                self.show(|| EchoMsg::Output(stream, text.to_string()));
            }
        });
        Self::flush_pending(st);
        st.capped = false;
        st.tail_text = 0;
    }
}

/// Splits a byte stream into lines the way WebJobs does.
#[derive(Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    after_cr: bool,
}

impl LineSplitter {
    /// Feeds bytes; calls `emit` for every complete line.
    pub fn feed(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(&[u8])) {
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    emit(&self.buf);
                    self.buf.clear();
                }
                b'\r' => {
                    emit(&self.buf);
                    self.buf.clear();
                    if i + 1 < bytes.len() {
                        if bytes[i + 1] == b'\n' {
                            i += 1;
                        }
                    } else {
                        self.after_cr = true;
                    }
                }
                b => {
                    self.buf.push(b);
                    if self.buf.len() >= MAX_LINE_BYTES {
                        emit(&self.buf);
                        self.buf.clear();
                    }
                }
            }
            i += 1;
        }
    }

    /// Flushes a trailing partial line.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
            self.buf.clear();
        }
    }
}

/// The write ends handed to the job, and the threads draining the read ends.
pub struct Pipes {
    /// Give to the job as its stdout.
    pub stdout: File,
    /// Give to the job as its stderr.
    pub stderr: File,
    /// Wait on this once the job (and every copy of the write ends) is gone.
    pub drain: Drain,
}

/// The reader threads of a run's pipes.
pub struct Drain {
    readers: Vec<JoinHandle<()>>,
}

impl Drain {
    /// Waits until both pipes reach end of file and every line is logged.
    pub fn wait(self) {
        for r in self.readers {
            let _ = r.join();
        }
    }
}

/// Creates the stdout and stderr pipes of a run and starts draining them into `log`.
pub fn pipes(log: &Arc<OutputLog>) -> io::Result<Pipes> {
    let mut readers = Vec::new();
    let mut ends = Vec::new();
    for stream in [Stream::Stdout, Stream::Stderr] {
        let (reader, writer) = io::pipe()?;
        let log = log.clone();
        readers.push(
            std::thread::Builder::new()
                .name(format!("capture-{stream:?}"))
                .spawn(move || drain(reader, stream, &log))?,
        );
        ends.push(File::from(std::os::fd::OwnedFd::from(writer)));
    }
    let stderr = ends.pop().expect("two pipes");
    let stdout = ends.pop().expect("two pipes");
    Ok(Pipes {
        stdout,
        stderr,
        drain: Drain { readers },
    })
}

fn drain(mut reader: io::PipeReader, stream: Stream, log: &OutputLog) {
    let mut splitter = LineSplitter::default();
    let mut emit = |line: &[u8]| log.line_batched(stream, &String::from_utf8_lossy(line));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                splitter.feed(&buf[..n], &mut emit);
                log.flush();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    splitter.finish(&mut emit);
    log.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_log_rolls_to_prev() {
        let d = tempfile::tempdir().unwrap();
        let (path, prev) = (
            d.path().join("job_log.txt"),
            d.path().join("job_prev_log.txt"),
        );
        let log = OutputLog::open_rolling(&path, &prev, 300, "inst", u64::MAX).unwrap();
        for i in 0..20 {
            log.line(Stream::Stdout, &format!("line {i}"));
        }
        let cur = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(&prev).unwrap();
        assert!(cur.len() < 300 && !old.is_empty(), "{cur:?} / {old:?}");
        assert!(cur.contains("line 19"), "{cur}");
        assert!(!cur.contains("line 0\r"), "the oldest lines rolled away");
    }

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut s = LineSplitter::default();
        let mut emit = |l: &[u8]| out.push(String::from_utf8_lossy(l).into_owned());
        for c in chunks {
            s.feed(c, &mut emit);
        }
        s.finish(&mut emit);
        out
    }

    #[test]
    fn splits_like_webjobs() {
        assert_eq!(split(&[b"a\nb\r\nc\rd"]), ["a", "b", "c", "d"]);
        assert_eq!(
            split(&[b"a\r", b"\nb\n"]),
            ["a", "b"],
            "CRLF split across reads"
        );
        assert_eq!(split(&[b"\n\n"]), ["", ""], "empty lines are logged");
        assert_eq!(
            split(&[b"x".repeat(MAX_LINE_BYTES + 1).as_slice()]).len(),
            2
        );
    }

    #[test]
    fn cap_keeps_head_and_tail() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("log");
        // Each line costs 7 + LINE_OVERHEAD = 55 bytes: ten fit in each half.
        let log = OutputLog::open(&path, "inst", 1100, None).unwrap();
        for i in 0..100 {
            log.line(Stream::Stdout, &format!("line{i:03}"));
        }
        log.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("INFO] line000"));
        assert!(text.contains("INFO] line099"));
        assert!(!text.contains("line050"));
        assert!(text.contains("were dropped"), "{text}");
    }
}
