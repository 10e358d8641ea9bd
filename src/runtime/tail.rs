//! The kept tail of a capped output, on disk: once a run's output passes
//! the first half of its cap, its newest log lines go to a ring file the
//! size of the other half, and are copied into the log when the run ends.
//! A run allowed a large cap costs the host a file of that size, never
//! that much memory.
//!
//! Records are whole lines ending in `\n` (a log line's text never holds a
//! line break); once the ring has wrapped, the oldest record may have lost
//! its beginning and is skipped.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bytes read from the ring at a time, and most gathered before a write.
const CHUNK: usize = 64 << 10;

/// The newest lines of a capped output, in a file of fixed size.
pub struct TailRing {
    path: PathBuf,
    file: Option<File>,
    capacity: u64,
    /// Records gathered and not yet written (one write per chunk, not per
    /// line: output capture is a hot path).
    gathered: Vec<u8>,
    /// Bytes ever written (the next write goes at `written % capacity`).
    written: u64,
    /// Lines ever pushed.
    lines: u64,
    /// A write failed (a full disk): what follows is not kept.
    broken: bool,
}

impl TailRing {
    /// A ring of `capacity` bytes in a file at `path` (made on the first
    /// push, removed when drained or dropped).
    pub fn new(path: PathBuf, capacity: u64) -> TailRing {
        TailRing {
            path,
            file: None,
            capacity: capacity.max(1),
            gathered: Vec::new(),
            written: 0,
            lines: 0,
            broken: false,
        }
    }

    /// The ring's size in bytes: the longest record it can keep.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Lines pushed so far.
    pub fn pushed(&self) -> u64 {
        self.lines
    }

    /// Keeps a record (a line ending in `\n`, at most [`Self::capacity`]
    /// bytes; a longer one is not kept), pushing the oldest out.
    pub fn push(&mut self, rec: &[u8]) {
        self.lines += 1;
        if self.broken || rec.len() as u64 > self.capacity {
            return;
        }
        // What is gathered never exceeds the ring (so one write wraps at
        // most once).
        let most = (self.capacity as usize).min(CHUNK);
        if self.gathered.len() + rec.len() > most {
            self.flush();
        }
        self.gathered.extend_from_slice(rec);
    }

    /// Writes what is gathered into the ring.
    fn flush(&mut self) {
        if self.broken || self.gathered.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.gathered);
        match self.write(&bytes) {
            Ok(()) => {
                self.gathered = bytes;
                self.gathered.clear();
            }
            Err(e) => {
                tracing::warn!("the kept tail of an output could not be written: {e}");
                self.broken = true;
            }
        }
    }

    fn write(&mut self, rec: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&self.path)?,
            );
        }
        let file = self.file.as_ref().expect("opened above");
        let at = self.written % self.capacity;
        let first = rec.len().min((self.capacity - at) as usize);
        file.write_all_at(&rec[..first], at)?;
        if first < rec.len() {
            file.write_all_at(&rec[first..], 0)?;
        }
        self.written += rec.len() as u64;
        Ok(())
    }

    /// Calls `each` with every whole kept record (its `\n` stripped),
    /// oldest first; returns how many there were. The ring stays as it is.
    pub fn scan(&mut self, each: &mut dyn FnMut(&[u8])) -> u64 {
        self.flush();
        let Some(file) = &self.file else {
            return 0;
        };
        let wrapped = self.written > self.capacity;
        let mut reader = RingReader {
            file,
            pos: if wrapped {
                self.written % self.capacity
            } else {
                0
            },
            left: self.written.min(self.capacity),
            capacity: self.capacity,
        };
        let mut kept = 0;
        let mut line = Vec::new();
        let mut skipping = wrapped;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if b != b'\n' {
                    line.push(b);
                    continue;
                }
                if !skipping {
                    kept += 1;
                    each(&line);
                }
                skipping = false;
                line.clear();
            }
        }
        kept
    }
}

impl Drop for TailRing {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The ring's bytes from `pos`, wrapping at `capacity`, `left` in all.
struct RingReader<'a> {
    file: &'a File,
    pos: u64,
    left: u64,
    capacity: u64,
}

impl Read for RingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let until_wrap = self.capacity - self.pos;
        let want = (buf.len() as u64).min(self.left).min(until_wrap) as usize;
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            self.left = 0;
            return Ok(0);
        }
        self.pos = (self.pos + n as u64) % self.capacity;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Where the kept tail of the log at `log` goes.
pub fn path_for(log: &Path) -> PathBuf {
    log.with_extension("tail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(ring: &mut TailRing) -> Vec<String> {
        let mut v = Vec::new();
        ring.scan(&mut |l| v.push(String::from_utf8_lossy(l).into_owned()));
        v
    }

    #[test]
    fn keeps_the_newest_lines_in_a_fixed_file() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("log.tail");
        let mut ring = TailRing::new(path.clone(), 200);
        for i in 0..1000 {
            ring.push(format!("line {i:04}\n").as_bytes());
        }
        let kept = lines(&mut ring);
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        assert_eq!(kept.last().unwrap(), "line 0999");
        assert!(kept.len() >= 18, "{kept:?}");
        for w in kept.windows(2) {
            assert!(w[0] < w[1], "in order: {kept:?}");
        }
        assert_eq!(ring.pushed(), 1000);
        drop(ring);
        assert!(!path.exists(), "the ring file is removed");
    }

    #[test]
    fn a_record_longer_than_the_ring_is_not_kept() {
        let t = tempfile::tempdir().unwrap();
        let mut ring = TailRing::new(t.path().join("t"), 64);
        ring.push(b"short\n");
        ring.push(&[b'x'; 100]);
        assert_eq!(lines(&mut ring), ["short"]);
        assert_eq!(ring.pushed(), 2);
    }

    #[test]
    fn an_unwrapped_ring_gives_back_everything() {
        let t = tempfile::tempdir().unwrap();
        let mut ring = TailRing::new(t.path().join("t"), 4096);
        ring.push(b"a\n");
        ring.push(b"\n");
        ring.push(b"c d\n");
        assert_eq!(lines(&mut ring), ["a", "", "c d"]);
        assert!(TailRing::new(t.path().join("u"), 10).scan(&mut |_| ()) == 0);
    }
}
