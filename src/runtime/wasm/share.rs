//! Fair CPU time for wasm guests between tenants. A guest executes only
//! while it holds one of a few *places* (one less than the cores or the
//! jobs runtime's worker threads, [`JOB_WORKERS`], whichever is fewer); it
//! holds one for the length of one poll of its call
//! (until its next epoch tick, or a host call that has to wait, such as a
//! sleep or a file read on the blocking pool) and gives it back then. A
//! free place goes to the waiting guest whose tenant has the least virtual
//! time, as a completely fair scheduler does: a tenant's virtual time
//! advances by the time its guests held places, divided by its weight
//! (its quota's `cpu_share`), and a tenant that becomes active again starts
//! no lower than the least virtual time of the active ones less a small
//! credit ([`SLEEP_CREDIT`], 20 ms, so that a guest back from a host call
//! gets the CPU soon), so idleness banks no more than that. Guests of one
//! tenant take their turns in order.
//!
//! A guest that wakes (its host call done) while every place is held by a
//! tenant further ahead asks that holder to yield at once (its preempt hook
//! advances its engine's epoch), instead of waiting for the next tick.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

/// Worker threads of the runtime that runs jobs (`serve`, the benchmark).
/// Guests hold at most one less than these and than the cores (the
/// places); the last is kept for the host's own work (starting and
/// finishing runs, their output, timers), which would otherwise wait for a
/// guest's tick to be picked up.
pub const JOB_WORKERS: usize = 2;

/// The weight of a tenant whose quota sets no `cpu_share`.
pub const DEFAULT_SHARE: u32 = 100;

/// How far (in nanoseconds of default-weight time) a waking tenant must be
/// behind a holder's tenant to preempt it before the holder's next tick.
const WAKEUP_GRANULARITY: u64 = 1_000_000;

/// How far behind the least virtual time of the runnable tenants a tenant
/// that wakes may start (nanoseconds of default-weight time): a guest back
/// from a host call keeps a little of the time it did not use, so it gets
/// the CPU soon; a tenant idle for long gets no more than this.
const SLEEP_CREDIT: u64 = 20_000_000;

/// How long a guest whose host call has to wait keeps its place when its
/// tenant is next in line anyway: a file call done within it finds the
/// place still its own, with no other guest to preempt.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

/// Asks a running guest to yield as soon as it can.
pub type Preempt = Arc<dyn Fn() + Send + Sync>;

/// The scheduler: places and the tenants waiting for them.
pub struct Share {
    /// Places in all (fixed on first use when not given).
    places: OnceLock<usize>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    free: usize,
    /// Every tenant's virtual time is at least this once it is active.
    floor: u64,
    tenants: HashMap<Arc<str>, Tenant>,
    seats: HashMap<u64, SeatState>,
    next_seat: u64,
}

struct Tenant {
    vtime: u64,
    weight: u32,
    /// Its waiting seats, first come first served.
    waiting: VecDeque<u64>,
    /// Its seats holding or granted a place.
    busy: usize,
    /// Its seats, whatever their phase.
    seats: usize,
}

impl Tenant {
    fn active(&self) -> bool {
        self.busy > 0 || !self.waiting.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Neither holding nor waiting.
    Idle,
    /// Waiting for a place.
    Waiting,
    /// Given a place, not yet polled.
    Granted,
    /// Executing (inside a poll).
    Running,
    /// Keeping its place for [`LINGER`] while its host call waits.
    Lingering,
}

struct SeatState {
    tenant: Arc<str>,
    phase: Phase,
    /// The task to wake when it is granted a place.
    task: Option<Waker>,
    /// Woken while running: it asks for a place again when the poll ends.
    rewoken: bool,
    /// It waited for its place (told to its poll once granted).
    waited: bool,
    /// When it started running.
    since: Instant,
    preempt: Preempt,
    /// Already asked to yield in this turn.
    preempted: bool,
    /// Counts its lingers (an expiry is for one of them only).
    lingers: u64,
}

impl Share {
    /// A scheduler with `places` places, or (`None`) one less than the
    /// cores or the worker threads of the runtime its first guest runs on,
    /// whichever is fewer (at least one): the last is the host's.
    pub fn new(places: Option<usize>) -> Share {
        let share = Share {
            places: OnceLock::new(),
            state: Mutex::default(),
        };
        if let Some(n) = places {
            share.init(n);
        }
        share
    }

    fn init(&self, n: usize) {
        let n = n.max(1);
        if self.places.set(n).is_ok() {
            self.state.lock().expect("share lock").free += n;
        }
    }

    fn ensure_places(&self) {
        if self.places.get().is_none() {
            let workers = tokio::runtime::Handle::try_current()
                .map(|h| h.metrics().num_workers())
                .unwrap_or(1);
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let n = workers.min(cores).saturating_sub(1);
            self.init(n);
        }
    }

    /// A guest's seat: `tenant`'s, with its weight, and the hook that makes
    /// it yield early.
    pub fn seat(self: &Arc<Self>, tenant: &str, weight: u32, preempt: Preempt) -> Seat {
        self.ensure_places();
        let mut st = self.state.lock().expect("share lock");
        let id = st.next_seat;
        st.next_seat += 1;
        let tenant: Arc<str> = Arc::from(tenant);
        let t = st.tenants.entry(tenant.clone()).or_insert(Tenant {
            vtime: 0,
            weight: weight.max(1),
            waiting: VecDeque::new(),
            busy: 0,
            seats: 0,
        });
        t.seats += 1;
        t.weight = weight.max(1);
        st.seats.insert(
            id,
            SeatState {
                tenant,
                phase: Phase::Idle,
                task: None,
                rewoken: false,
                waited: false,
                since: Instant::now(),
                preempt,
                preempted: false,
                lingers: 0,
            },
        );
        Seat {
            share: self.clone(),
            id,
        }
    }

    #[cfg(test)]
    fn vtime(&self, tenant: &str) -> u64 {
        let st = self.state.lock().expect("share lock");
        st.tenants.get(tenant).map_or(0, |t| t.vtime)
    }
}

impl State {
    /// The least virtual time of the active tenants, never decreasing.
    fn raise_floor(&mut self) {
        if let Some(min) = self
            .tenants
            .values()
            .filter(|t| t.active())
            .map(|t| t.vtime)
            .min()
        {
            self.floor = self.floor.max(min);
        }
    }

    /// Makes `tenant` active if it was not, no lower than the floor less
    /// the sleeper's credit.
    fn activate(&mut self, tenant: &str) {
        self.raise_floor();
        let floor = self.floor.saturating_sub(SLEEP_CREDIT);
        if let Some(t) = self.tenants.get_mut(tenant)
            && !t.active()
        {
            t.vtime = t.vtime.max(floor);
        }
    }

    /// A seat asks for a place: granted at once if one is free (nobody
    /// waits then), else queued, asking a holder further ahead to yield.
    fn request(&mut self, id: u64, task: Waker, wake: &mut Vec<Waker>) -> Phase {
        let tenant = self.seats[&id].tenant.clone();
        self.activate(&tenant);
        let seat = self.seats.get_mut(&id).expect("seat");
        if self.free > 0 {
            self.free -= 1;
            seat.phase = Phase::Granted;
            self.tenants.get_mut(&tenant).expect("tenant").busy += 1;
            wake.push(task);
            return Phase::Granted;
        }
        // A place granted to a tenant further ahead, not yet used, is
        // taken back (its seat is first in its tenant's line again).
        if let Some(other) = self.granted_ahead_of(&tenant) {
            let back = self.seats.get_mut(&other).expect("seat");
            back.phase = Phase::Waiting;
            let t = self.tenants.get_mut(&back.tenant).expect("tenant");
            t.busy -= 1;
            t.waiting.push_front(other);
            let seat = self.seats.get_mut(&id).expect("seat");
            seat.phase = Phase::Granted;
            self.tenants.get_mut(&tenant).expect("tenant").busy += 1;
            wake.push(task);
            return Phase::Granted;
        }
        self.wait(id, task);
        self.preempt_for(&tenant);
        Phase::Waiting
    }

    /// Whether seat `id`'s tenant would be given the next free place
    /// anyway: others wait, none of its own, and none of a tenant behind.
    fn next_in_line(&self, id: u64) -> bool {
        let tenant = &self.seats[&id].tenant;
        let Some(mine) = self.tenants.get(tenant) else {
            return false;
        };
        let mut others = self
            .tenants
            .values()
            .filter(|t| !t.waiting.is_empty())
            .peekable();
        mine.waiting.is_empty() && others.peek().is_some() && others.all(|t| t.vtime >= mine.vtime)
    }

    /// Puts a seat at the end of its tenant's line.
    fn wait(&mut self, id: u64, task: Waker) {
        let seat = self.seats.get_mut(&id).expect("seat");
        seat.phase = Phase::Waiting;
        seat.task = Some(task);
        seat.waited = true;
        self.tenants
            .get_mut(&seat.tenant)
            .expect("tenant")
            .waiting
            .push_back(id);
    }

    /// A seat granted a place it has not started using whose tenant is
    /// furthest ahead of `tenant`, by more than the granularity.
    fn granted_ahead_of(&self, tenant: &str) -> Option<u64> {
        let mine = self.tenants.get(tenant)?.vtime;
        self.seats
            .iter()
            .filter(|(_, s)| s.phase == Phase::Granted && *s.tenant != *tenant)
            .filter_map(|(id, s)| {
                let v = self.tenants.get(&s.tenant)?.vtime;
                (v > mine + WAKEUP_GRANULARITY).then_some((v, *id))
            })
            .max_by_key(|(v, _)| *v)
            .map(|(_, id)| id)
    }

    /// Asks the running seat whose tenant is furthest ahead of `tenant` to
    /// yield now, if it is ahead by more than the granularity.
    fn preempt_for(&mut self, tenant: &str) {
        let Some(mine) = self.tenants.get(tenant).map(|t| t.vtime) else {
            return;
        };
        let now = Instant::now();
        let ahead = self
            .seats
            .values_mut()
            .filter(|s| s.phase == Phase::Running && !s.preempted && *s.tenant != *tenant)
            .filter_map(|s| {
                let t = self.tenants.get(&s.tenant)?;
                let v = t.vtime + charge(now - s.since, t.weight);
                (v > mine + WAKEUP_GRANULARITY).then_some((v, s))
            })
            .max_by_key(|(v, _)| *v);
        if let Some((_, s)) = ahead {
            s.preempted = true;
            (s.preempt)();
        }
    }

    /// Gives free places to the waiting seats of the tenants with the least
    /// virtual time.
    fn grant(&mut self, wake: &mut Vec<Waker>) {
        while self.free > 0 {
            let Some(name) = self
                .tenants
                .iter()
                .filter(|(_, t)| !t.waiting.is_empty())
                .min_by_key(|(_, t)| t.vtime)
                .map(|(n, _)| n.clone())
            else {
                return;
            };
            let t = self.tenants.get_mut(&name).expect("tenant");
            let id = t.waiting.pop_front().expect("a waiting seat");
            t.busy += 1;
            self.free -= 1;
            let seat = self.seats.get_mut(&id).expect("seat");
            seat.phase = Phase::Granted;
            wake.extend(seat.task.take());
        }
    }

    /// A running seat gives its place back, charged for the time it held it.
    fn release(&mut self, id: u64) {
        let seat = self.seats.get_mut(&id).expect("seat");
        debug_assert_eq!(seat.phase, Phase::Running);
        seat.phase = Phase::Idle;
        let held = seat.since.elapsed();
        let tenant = seat.tenant.clone();
        let t = self.tenants.get_mut(&tenant).expect("tenant");
        t.vtime += charge(held, t.weight);
        // Still active here: a tenant running alone carries the floor with it.
        self.raise_floor();
        self.tenants.get_mut(&tenant).expect("tenant").busy -= 1;
        self.free += 1;
    }
}

/// Virtual time for `held` at `weight`.
fn charge(held: std::time::Duration, weight: u32) -> u64 {
    let ns = u64::try_from(held.as_nanos()).unwrap_or(u64::MAX);
    ns.saturating_mul(u64::from(DEFAULT_SHARE)) / u64::from(weight.max(1))
}

fn wake_all(wake: Vec<Waker>) {
    for w in wake {
        w.wake();
    }
}

/// A guest's membership in the scheduler; it leaves when dropped (a place
/// it was granted goes to the next in line).
pub struct Seat {
    share: Arc<Share>,
    id: u64,
}

impl Seat {
    /// `inner` run only while this seat holds a place; `on_wait` is called
    /// each time it gets one after waiting.
    pub fn run<F, W>(&self, inner: F, on_wait: W) -> Fair<'_, F, W>
    where
        F: Future + Unpin,
        W: Fn(),
    {
        Fair {
            seat: self,
            inner,
            on_wait,
            waker: None,
        }
    }
}

impl Share {
    /// Starts a poll of seat `id`: `Some` if it holds a place now (`true`
    /// if it waited for it), `None` if it waits.
    fn begin(&self, id: u64, task: &Waker) -> Option<bool> {
        let mut wake = Vec::new();
        let mut st = self.state.lock().expect("share lock");
        let phase = st.seats[&id].phase;
        let holds = match phase {
            Phase::Granted | Phase::Running | Phase::Lingering => true,
            Phase::Idle => st.request(id, task.clone(), &mut wake) == Phase::Granted,
            Phase::Waiting => {
                st.seats.get_mut(&id).expect("seat").task = Some(task.clone());
                false
            }
        };
        let r = holds.then(|| {
            let seat = st.seats.get_mut(&id).expect("seat");
            seat.phase = Phase::Running;
            seat.since = Instant::now();
            seat.preempted = false;
            seat.rewoken = false;
            std::mem::take(&mut seat.waited)
        });
        drop(st);
        // (A grant made here is this very poll's: no wake-up needed.)
        drop(wake);
        r
    }

    /// Ends a poll: the place goes back, to the next in line; a seat woken
    /// meanwhile asks again at once.
    fn end(self: &Arc<Self>, id: u64, task: &Waker, done: bool) {
        let mut wake = Vec::new();
        let mut st = self.state.lock().expect("share lock");
        st.release(id);
        // A seat that goes on at once (its tick) competes for the place it
        // gave back, behind the others of its tenant.
        let seat = st.seats.get_mut(&id).expect("seat");
        let mut linger = None;
        if std::mem::take(&mut seat.rewoken) && !done {
            st.wait(id, task.clone());
        } else if !done && st.next_in_line(id) {
            // Its host call waits: it keeps its place a moment.
            st.free -= 1;
            let seat = st.seats.get_mut(&id).expect("seat");
            seat.phase = Phase::Lingering;
            seat.lingers += 1;
            linger = Some(seat.lingers);
            let tenant = seat.tenant.clone();
            st.tenants.get_mut(&tenant).expect("tenant").busy += 1;
        }
        st.grant(&mut wake);
        drop(st);
        wake_all(wake);
        if let Some(n) = linger {
            let share = self.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(async move {
                    tokio::time::sleep(LINGER).await;
                    share.expire(id, n);
                })),
                Err(_) => share.expire(id, n),
            }
        }
    }

    /// The end of a linger: the place goes to the next in line.
    fn expire(&self, id: u64, linger: u64) {
        let mut wake = Vec::new();
        let mut st = self.state.lock().expect("share lock");
        let Some(seat) = st.seats.get_mut(&id) else {
            return;
        };
        if seat.phase != Phase::Lingering || seat.lingers != linger {
            return;
        }
        seat.phase = Phase::Idle;
        let tenant = seat.tenant.clone();
        st.tenants.get_mut(&tenant).expect("tenant").busy -= 1;
        st.free += 1;
        st.grant(&mut wake);
        drop(st);
        wake_all(wake);
    }

    /// The seat's task was woken (its host call is done): it asks for a
    /// place now, so that a holder further ahead yields to it.
    fn woken(&self, id: u64, task: &Waker) {
        let mut wake = Vec::new();
        let mut st = self.state.lock().expect("share lock");
        match st.seats.get(&id).map(|s| s.phase) {
            Some(Phase::Idle) => {
                st.request(id, task.clone(), &mut wake);
            }
            Some(Phase::Running) => st.seats.get_mut(&id).expect("seat").rewoken = true,
            // Back within its linger: the place it kept is its own.
            Some(Phase::Lingering) => st.seats.get_mut(&id).expect("seat").phase = Phase::Granted,
            _ => {}
        }
        drop(st);
        // The task itself is woken by the caller.
        drop(wake);
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut wake = Vec::new();
        let mut st = self.share.state.lock().expect("share lock");
        let Some(seat) = st.seats.remove(&self.id) else {
            return;
        };
        let t = st.tenants.get_mut(&seat.tenant).expect("tenant");
        match seat.phase {
            Phase::Waiting => t.waiting.retain(|&s| s != self.id),
            Phase::Granted | Phase::Running | Phase::Lingering => {
                t.busy -= 1;
                st.free += 1;
            }
            Phase::Idle => {}
        }
        let t = st.tenants.get_mut(&seat.tenant).expect("tenant");
        t.seats -= 1;
        if t.seats == 0 {
            st.tenants.remove(&seat.tenant);
        }
        st.grant(&mut wake);
        drop(st);
        wake_all(wake);
    }
}

/// The waker a guest's call sees: it asks for a place before waking the task.
struct SeatWaker {
    share: Arc<Share>,
    id: u64,
    task: Waker,
}

impl Wake for SeatWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // (A seat already gone is not found.)
        self.share.woken(self.id, &self.task);
        self.task.wake_by_ref();
    }
}

/// A future run only while its seat holds a place ([`Seat::run`]).
pub struct Fair<'a, F, W> {
    seat: &'a Seat,
    inner: F,
    on_wait: W,
    waker: Option<(Waker, Waker)>,
}

impl<F: Future + Unpin, W: Fn() + Unpin> Future for Fair<'_, F, W> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let (share, id) = (&this.seat.share, this.seat.id);
        let Some(waited) = share.begin(id, cx.waker()) else {
            return Poll::Pending;
        };
        if waited {
            (this.on_wait)();
        }
        let waker = match &this.waker {
            Some((task, w)) if task.will_wake(cx.waker()) => w.clone(),
            _ => {
                let w = Waker::from(Arc::new(SeatWaker {
                    share: share.clone(),
                    id,
                    task: cx.waker().clone(),
                }));
                this.waker = Some((cx.waker().clone(), w.clone()));
                w
            }
        };
        let r = Pin::new(&mut this.inner).poll(&mut Context::from_waker(&waker));
        share.end(id, cx.waker(), r.is_ready());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    /// A guest's stand-in: each poll executes for `slice` and yields, until
    /// it has done `turns` of them; counts its turns.
    struct Spin {
        turns: u64,
        slice: Duration,
        done: Arc<AtomicU64>,
    }

    impl Future for Spin {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let t = Instant::now();
            while t.elapsed() < self.slice {
                std::hint::spin_loop();
            }
            self.done.fetch_add(1, Ordering::Relaxed);
            self.turns -= 1;
            if self.turns == 0 {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn nothing() -> Preempt {
        Arc::new(|| {})
    }

    /// Runs `a` guests of tenant a (weight `wa`) forever and one of tenant b
    /// (weight `wb`) for `turns` turns, on one place; returns the turns
    /// tenant a's guests got meanwhile.
    fn contend(a: usize, wa: u32, wb: u32, turns: u64) -> u64 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let share = Arc::new(Share::new(Some(1)));
            let a_turns = Arc::new(AtomicU64::new(0));
            let slice = Duration::from_micros(300);
            for _ in 0..a {
                let (share, done) = (share.clone(), a_turns.clone());
                tokio::spawn(async move {
                    let seat = share.seat("a", wa, nothing());
                    let spin = Spin {
                        turns: u64::MAX,
                        slice,
                        done,
                    };
                    tokio::pin!(spin);
                    seat.run(&mut spin, || {}).await;
                });
            }
            tokio::task::yield_now().await;
            let seat = share.seat("b", wb, nothing());
            let spin = Spin {
                turns,
                slice,
                done: Arc::default(),
            };
            tokio::pin!(spin);
            let before = a_turns.load(Ordering::Relaxed);
            seat.run(&mut spin, || {}).await;
            a_turns.load(Ordering::Relaxed) - before
        })
    }

    /// The timing tests one at a time (they measure CPU time).
    static SERIAL: Mutex<()> = Mutex::new(());

    // Tenant b's 600 turns are 180 ms; b starts up to `SLEEP_CREDIT` (20
    // ms) behind, so alike, a's eight guests get about 160 ms (533 turns);
    // one turn each in order would be 4,800.
    #[test]
    fn tenants_share_alike_however_many_guests_they_run() {
        let _one = SERIAL.lock();
        let a = contend(8, DEFAULT_SHARE, DEFAULT_SHARE, 600);
        assert!(
            (330..=800).contains(&a),
            "tenant a got {a} turns to b's 600"
        );
    }

    // At three times a's weight, b's 180 ms are 60 ms of virtual time: a
    // gets about 40 ms (133 turns); at equal weights it would get 533.
    #[test]
    fn weights_divide_the_time() {
        let _one = SERIAL.lock();
        let a = contend(4, DEFAULT_SHARE, 3 * DEFAULT_SHARE, 600);
        assert!((40..=300).contains(&a), "tenant a got {a} turns to b's 600");
    }

    #[test]
    fn idleness_banks_no_credit() {
        let share = Arc::new(Share::new(Some(1)));
        let noop = Waker::noop();
        let a = share.seat("a", DEFAULT_SHARE, nothing());
        // Tenant a runs alone for a while.
        for _ in 0..10 {
            assert_eq!(share.begin(a.id, noop), Some(false));
            std::thread::sleep(Duration::from_millis(6));
            share.end(a.id, noop, false);
        }
        let b = share.seat("b", DEFAULT_SHARE, nothing());
        assert_eq!(share.begin(b.id, noop), Some(false));
        share.end(b.id, noop, false);
        // b starts near a's virtual time, not at zero.
        assert!(share.vtime("a") >= 60_000_000);
        assert!(
            share.vtime("b") >= share.vtime("a") - SLEEP_CREDIT,
            "b banked credit"
        );
    }

    #[test]
    fn a_tenant_behind_preempts_one_ahead_and_places_come_back() {
        let share = Arc::new(Share::new(Some(1)));
        let noop = Waker::noop();
        let asked = Arc::new(AtomicBool::new(false));
        let flag = asked.clone();
        let a = share.seat(
            "a",
            DEFAULT_SHARE,
            Arc::new(move || flag.store(true, Ordering::SeqCst)),
        );
        let b = share.seat("b", DEFAULT_SHARE, nothing());
        let b2 = share.seat("b", DEFAULT_SHARE, nothing());
        assert_eq!(share.begin(a.id, noop), Some(false));
        std::thread::sleep(Duration::from_millis(3));
        // b's host call ends: it asks for the place a holds.
        share.woken(b.id, noop);
        assert!(asked.load(Ordering::SeqCst), "a was not asked to yield");
        assert_eq!(share.begin(b2.id, noop), None, "the place is a's");
        share.end(a.id, noop, false);
        // The place went to b (first in line), not to a.
        assert_eq!(share.begin(a.id, noop), None);
        drop(b);
        // b's granted place passes on to b2 when b leaves.
        assert_eq!(share.begin(b2.id, noop), Some(true));
        share.end(b2.id, noop, true);
        drop(b2);
        assert_eq!(share.begin(a.id, noop), Some(true));
    }

    #[test]
    fn a_waiting_host_call_keeps_the_place_a_moment_only() {
        // A runtime for the lingers' timers, never driven: they end by hand.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _in = rt.enter();
        let share = Arc::new(Share::new(Some(1)));
        let noop = Waker::noop();
        let a = share.seat("a", DEFAULT_SHARE, nothing());
        let b = share.seat("b", DEFAULT_SHARE, nothing());
        assert_eq!(share.begin(a.id, noop), Some(false));
        std::thread::sleep(Duration::from_millis(3));
        share.end(a.id, noop, false);
        // b runs (a is ahead), a waits; b's host call then has to wait.
        assert_eq!(share.begin(b.id, noop), Some(false));
        assert_eq!(share.begin(a.id, noop), None);
        share.end(b.id, noop, false);
        // b is behind a: it keeps the place while its call is under way...
        let phase = |id| share.state.lock().unwrap().seats[&id].phase;
        assert_eq!(
            (phase(b.id), phase(a.id)),
            (Phase::Lingering, Phase::Waiting)
        );
        share.woken(b.id, noop);
        assert_eq!(share.begin(b.id, noop), Some(false));
        share.end(b.id, noop, false);
        // ...but only for a moment: then a gets it.
        let n = share.state.lock().unwrap().seats[&b.id].lingers;
        share.expire(b.id, n);
        assert_eq!(share.begin(a.id, noop), Some(true));
        share.end(a.id, noop, true);
    }
}
