//! The bench's progress bar on stderr: redrawn in place on a terminal, a
//! line every tenth of the way otherwise (logs, CI).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress through a known number of runs.
pub struct Progress {
    total: usize,
    done: usize,
    tty: bool,
    shown_tenths: usize,
    started: Instant,
}

impl Progress {
    /// A bar for `total` runs.
    pub fn new(total: usize) -> Progress {
        Progress {
            total: total.max(1),
            done: 0,
            tty: std::io::stderr().is_terminal(),
            shown_tenths: 0,
            started: Instant::now(),
        }
    }

    /// Counts one run done; `what` names the next thing being measured.
    pub fn step(&mut self, what: &str) {
        self.done = (self.done + 1).min(self.total);
        let tenths = self.done * 10 / self.total;
        let elapsed = self.started.elapsed().as_secs();
        let mut err = std::io::stderr().lock();
        if self.tty {
            const WIDTH: usize = 30;
            let filled = self.done * WIDTH / self.total;
            let _ = write!(
                err,
                "\r\x1b[2Kbench [{}{}] {}/{} {elapsed}s  {what}",
                "#".repeat(filled),
                "-".repeat(WIDTH - filled),
                self.done,
                self.total,
            );
            if self.done == self.total {
                let _ = writeln!(err);
            }
        } else if tenths > self.shown_tenths {
            self.shown_tenths = tenths;
            let _ = writeln!(
                err,
                "bench: {}% ({}/{} runs, {elapsed}s)",
                tenths * 10,
                self.done,
                self.total
            );
        }
    }
}
