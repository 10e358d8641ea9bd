//! Checking tenants' secrets with bounded memory, threads and queueing.
//! An argon2id check needs ~19 MiB of working memory; done on whatever
//! thread a request happens to run on, a flood of wrong secrets had hundreds
//! of threads each allocate (and the allocator keep) that much. Here a few
//! threads, fixed at start, do every check, each with its working memory
//! allocated once; requests wait in a bounded queue and are refused when it
//! is full, so the host's memory for checking secrets is
//! `threads × CHECK_MEMORY` whatever comes in.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::Tenants;

/// The most argon2 memory one check may use (in 1 KiB blocks): the
/// default parameters' 19 MiB, with room to spare. A stored hash asking
/// for more is refused rather than given more memory.
pub const MAX_BLOCKS: usize = 32 * 1024;

/// The checks' working memory per thread, in bytes.
pub const CHECK_MEMORY: usize = MAX_BLOCKS * 1024;

/// Why a check was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// One check waiting for a thread.
struct Check {
    tenant: String,
    secret: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// The checks waiting: those of clients with no recent failure first.
#[derive(Default)]
struct Queue {
    first: VecDeque<Check>,
    rest: VecDeque<Check>,
    closed: bool,
}

/// A fixed pool of threads that check secrets against the tenants' hashes.
pub struct Checker {
    queue: Arc<(Mutex<Queue>, Condvar)>,
    room: usize,
}

impl Checker {
    /// Starts `threads` checking threads with room for `queued` checks
    /// waiting in each of the two lanes. The threads end when the checker
    /// is dropped.
    pub fn start(tenants: Tenants, threads: usize, queued: usize) -> std::io::Result<Checker> {
        let queue: Arc<(Mutex<Queue>, Condvar)> = Arc::default();
        let threads = threads.max(1);
        for i in 0..threads {
            let (queue, tenants) = (queue.clone(), tenants.clone());
            std::thread::Builder::new()
                .name(format!("secret-check-{i}"))
                .spawn(move || serve(&tenants, &queue))?;
        }
        Ok(Checker {
            queue,
            room: queued.max(1),
        })
    }

    /// Whether `secret` is `tenant`'s; [`Busy`] when too many checks are
    /// already waiting. A `priority` check (a client with no recent
    /// failure) goes before the others, so that a flood of wrong secrets
    /// delays other clients' sign-ins by a check or two, not by the
    /// flood's queue. An unknown tenant costs a hash as well, so timing
    /// does not tell whether a tenant exists.
    pub async fn check(&self, tenant: &str, secret: &str, priority: bool) -> Result<bool, Busy> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Check {
            tenant: tenant.to_string(),
            secret: secret.to_string(),
            reply,
        };
        {
            let (q, more) = &*self.queue;
            let mut q = q.lock().map_err(|_| Busy)?;
            let lane = if priority { &mut q.first } else { &mut q.rest };
            if lane.len() >= self.room {
                return Err(Busy);
            }
            lane.push_back(job);
            more.notify_one();
        }
        answer.await.map_err(|_| Busy)
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        let (q, more) = &*self.queue;
        if let Ok(mut q) = q.lock() {
            q.closed = true;
        }
        more.notify_all();
    }
}

/// A checking thread: takes checks until the checker is gone.
fn serve(tenants: &Tenants, queue: &(Mutex<Queue>, Condvar)) {
    // Allocated on the first check, then kept for every later one.
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        let check = {
            let (q, more) = queue;
            let Ok(mut q) = q.lock() else {
                return;
            };
            loop {
                if let Some(c) = q.first.pop_front().or_else(|| q.rest.pop_front()) {
                    break c;
                }
                if q.closed {
                    return;
                }
                q = match more.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        };
        if check.reply.is_closed() {
            // Nobody waits for this one any more.
            continue;
        }
        if blocks.is_empty() {
            blocks = vec![Block::default(); MAX_BLOCKS];
        }
        let stored = tenants.secret_hash(&check.tenant);
        let ok = match &stored {
            Some(hash) => matches(hash, &check.secret, &mut blocks),
            None => {
                // The same work for a tenant that does not exist.
                let _ = matches(dummy_hash(), &check.secret, &mut blocks);
                false
            }
        };
        let _ = check.reply.send(ok);
    }
}

/// A hash of nothing anyone knows, with the default parameters.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| super::hash("not a secret").unwrap_or_default())
}

/// Whether `secret` hashes to the PHC string `stored`, using `blocks` as
/// argon2's working memory (a hash needing more is refused).
pub fn matches(stored: &str, secret: &str, blocks: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.block_count() > blocks.len() {
        tracing::warn!(
            "a tenant's secret hash asks for {} KiB of memory, more than the {} KiB checks may use: refused",
            params.m_cost(),
            blocks.len()
        );
        return false;
    }
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, &mut *blocks)
        .is_err()
    {
        return false;
    }
    // Output's comparison is constant-time.
    argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_what_argon2_hashed() {
        let stored = super::super::hash("s3cret").unwrap();
        let mut blocks = vec![Block::default(); MAX_BLOCKS];
        assert!(matches(&stored, "s3cret", &mut blocks));
        assert!(!matches(&stored, "s3cref", &mut blocks));
        assert!(!matches("not a hash", "s3cret", &mut blocks));
        let mut few = vec![Block::default(); 16];
        assert!(!matches(&stored, "s3cret", &mut few), "needs more memory");
    }

    #[tokio::test]
    async fn a_full_queue_is_busy() {
        let d = tempfile::tempdir().unwrap();
        let tenants = Tenants::new(d.path());
        let secret = tenants.add("acme").unwrap();
        let checker = Checker::start(tenants, 1, 1).unwrap();
        assert_eq!(checker.check("acme", &secret, true).await, Ok(true));
        assert_eq!(checker.check("acme", "wrong", false).await, Ok(false));
        assert_eq!(checker.check("nobody", &secret, true).await, Ok(false));
        // One thread, one place: of many checks at once some are refused.
        let c = Arc::new(checker);
        let all: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.check("acme", "wrong", false).await })
            })
            .collect();
        let mut busy = 0;
        for h in all {
            if h.await.unwrap() == Err(Busy) {
                busy += 1;
            }
        }
        assert!(busy > 0, "a queue of one took eight checks");
    }
}
