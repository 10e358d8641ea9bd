//! The WebAssembly executor: runs a script inside an interpreter guest
//! under wasmtime with WASI preview 1, with fuel, an epoch-driven wall-clock
//! deadline, an idle watchdog, and memory/table/instance caps, all enforced
//! by the host.

mod cache;
mod disk;
pub mod engine;
mod guest;
pub mod install;
pub mod installed;
mod limiter;
mod open;
pub mod report;
pub mod reserve;
pub mod share;
mod snapshot;
pub mod sockets;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Result;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use engine::RunState;
pub use engine::{CodeGen, EngineSet};
pub use guest::{Guest, GuestFiles, default_dir as default_cache_dir};
use guest::{PYTHON_STDLIB_MOUNT, RUN_EXPORT};
use limiter::JobLimiter;
use reserve::Sizing;
use share::Share;

use super::confine;
use super::limits::LimitKind;
use super::watch::watch;
use super::{Ending, Invocation, Outcome, Usage, guest_paths};
use crate::store::disk::Pool;

/// Name of the environment variable telling the guest's entry point which
/// directory to start in; it removes it before the script runs.
const GUEST_CWD_VAR: &str = "WASMJOBS_GUEST_CWD";

/// The wasm executor: shared engines (built on first use) and the module cache.
pub struct WasmRuntime {
    cache_dir: PathBuf,
    slots: u32,
    /// The largest linear memory a job may ask for, in bytes.
    ceiling: u64,
    unchecked: bool,
    engines: Mutex<Vec<Arc<EngineSet>>>,
    /// How guests' memories are reserved, decided with the first engine.
    sizing: Mutex<Option<Sizing>>,
    /// Whether guests can run on this host at all, found once.
    usable: OnceLock<Result<(), Unusable>>,
    /// Guests that could not be instantiated here when the host started.
    broken: Mutex<std::collections::HashMap<Guest, Unusable>>,
    /// Shares CPU time between tenants' guests.
    share: Arc<Share>,
}

/// Why WebAssembly guests cannot run on this host, and what would let them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// What is missing.
    pub why: String,
    /// What would fix it.
    pub fix: String,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (fix: {})", self.why, self.fix)
    }
}

/// The smallest module with code: one empty function. Compiling it
/// publishes code, which is what a host denying executable memory refuses.
const PROBE_MODULE: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
    0x03, 0x02, 0x01, 0x00, // function section: one of type 0
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code section: an empty body
];

impl WasmRuntime {
    /// A runtime caching compiled guests in `cache_dir`, with at most
    /// `slots` guests running at once per engine, none with more than
    /// `ceiling` bytes of linear memory.
    pub fn new(cache_dir: PathBuf, slots: u32, ceiling: u64) -> WasmRuntime {
        WasmRuntime {
            cache_dir,
            slots,
            ceiling,
            unchecked: false,
            engines: Mutex::new(Vec::new()),
            sizing: Mutex::new(None),
            usable: OnceLock::new(),
            broken: Mutex::default(),
            share: Arc::new(Share::new(None)),
        }
    }

    /// A runtime with this one's cache and slots whose guests run without
    /// epoch checks or fuel ([`CodeGen::Unchecked`]): no timeout, stop
    /// request or fuel limit can interrupt them. The benchmark's baseline;
    /// never a host's.
    pub fn unchecked(&self) -> WasmRuntime {
        WasmRuntime {
            unchecked: true,
            ..WasmRuntime::new(self.cache_dir.clone(), self.slots, self.ceiling)
        }
    }

    /// How guests' memories are reserved on this host (read from its
    /// address-space limit when first asked; said once when it is not the
    /// fast plan).
    pub fn sizing(&self) -> Sizing {
        self.sizing
            .lock()
            .expect("sizing lock")
            .get_or_insert_with(|| {
                let s = Sizing::new(self.slots, self.ceiling, confine::AddressSpace::read());
                if let Some(why) = &s.why {
                    tracing::warn!("{why}");
                }
                s
            })
            .clone()
    }

    /// The engine for a code-generation variant, built on first use. A
    /// pool that cannot be reserved after all makes this and every later
    /// engine map memories on demand.
    pub fn engines(&self, codegen: CodeGen) -> Result<Arc<EngineSet>> {
        let mut sets = self.engines.lock().expect("engine lock");
        if let Some(set) = sets.iter().find(|s| s.codegen == codegen) {
            return Ok(set.clone());
        }
        let sizing = self.sizing();
        let set = match EngineSet::new(codegen, self.slots, sizing.plan, &self.cache_dir) {
            Err(e) if sizing.plan != reserve::MemoryPlan::OnDemand => {
                let smaller = sizing.on_demand_after(&format!("{e:#}"));
                tracing::warn!("{}", smaller.why.as_deref().unwrap_or_default());
                let set = EngineSet::new(codegen, self.slots, smaller.plan, &self.cache_dir)?;
                *self.sizing.lock().expect("sizing lock") = Some(smaller);
                set
            }
            r => r?,
        };
        let set = Arc::new(set);
        sets.push(set.clone());
        Ok(set)
    }

    /// Whether `guest` can run on this host: it is installed, this host
    /// lets the engine reserve its memory and publish compiled code. The
    /// host-wide part is found once (an engine is built and a one-function
    /// module compiled on it); the runner falls back to the native sandbox
    /// (`auto`) or refuses (`wasm`) with the reason.
    pub fn usable(&self, guest: Guest) -> Result<(), Unusable> {
        self.usable.get_or_init(|| self.probe()).clone()?;
        guest.installed()?;
        match self.broken.lock().expect("broken lock").get(&guest) {
            Some(u) => Err(u.clone()),
            None => Ok(()),
        }
    }

    /// Loads (preparing it first if need be) and instantiates `guest` once,
    /// as a host does at its start: the first run need not wait for it,
    /// and a guest that cannot be instantiated on this host is not used
    /// (its runs fall back or are refused with the reason) until the host
    /// restarts.
    pub async fn warm(&self, guest: Guest) -> Result<(), Unusable> {
        self.usable(guest)?;
        let r = self.instantiate_only(guest).await.map_err(|e| Unusable {
            why: format!(
                "the {} guest cannot be instantiated on this host: {e:#}",
                guest.id()
            ),
            fix: "raise the address space wasmjobs may reserve (ulimit -v) or the memory it may use; `wasmjobs doctor` shows what it found".into(),
        });
        if let Err(u) = &r {
            tracing::warn!("{}", u.why);
            self.broken
                .lock()
                .expect("broken lock")
                .insert(guest, u.clone());
        }
        r
    }

    fn probe(&self) -> Result<(), Unusable> {
        if let Err(why) = confine::exec_memory() {
            return Err(Unusable {
                why: format!("{why}, which the WebAssembly guests need for their compiled code"),
                fix: "allow it for wasmjobs (drop MemoryDenyWriteExecute= from its unit, do not start it under PR_SET_MDWE), or pass --executor native to run these jobs natively on purpose".into(),
            });
        }
        let set = self.engines(CodeGen::Epoch).map_err(|e| Unusable {
            why: format!("the WebAssembly engine cannot start on this host: {e:#}"),
            fix: "raise the address space wasmjobs may reserve (ulimit -v), or lower --wasm-slots or --max-memory-mb".into(),
        })?;
        wasmtime::Module::new(&set.engine, PROBE_MODULE).map_err(|e| Unusable {
            why: format!("the WebAssembly engine cannot compile code on this host: {e:#}"),
            fix: "allow executable memory for wasmjobs, or pass --executor native to run these jobs natively on purpose".into(),
        })?;
        Ok(())
    }

    /// Instantiates a guest with an empty WASI context and drops it without
    /// calling it: wasmtime's share of starting a run (the benchmark's
    /// `instantiate`).
    pub async fn instantiate_only(&self, guest: Guest) -> Result<()> {
        let set = self.engines(CodeGen::Epoch)?;
        let pre = set.guest(guest)?;
        let mut store = Store::new(
            &set.engine,
            RunState {
                wasi: WasiCtxBuilder::new().build_p1(),
                limiter: JobLimiter::new(256 << 20),
                disk: None,
                sockets: sockets::Sockets::default(),
            },
        );
        store.limiter(|s| &mut s.limiter);
        pre.instantiate_async(&mut store).await?;
        Ok(())
    }

    /// The executor for scripts `guest` runs.
    pub fn executor(&self, guest: Guest) -> WasmExecutor<'_> {
        WasmExecutor {
            runtime: self,
            guest,
        }
    }

    /// Runs one invocation to its end (on the caller's runtime: a host
    /// runs its jobs on a runtime apart from the one answering requests).
    pub async fn run(&self, guest: Guest, inv: Invocation) -> Outcome {
        let codegen = match (self.unchecked, inv.limits.fuel) {
            (true, _) => CodeGen::Unchecked,
            (false, Some(_)) => CodeGen::Fuel,
            (false, None) => CodeGen::Epoch,
        };
        let set = match self.engines(codegen) {
            Ok(s) => s,
            Err(e) => return crashed(format!("cannot prepare the WebAssembly engine: {e:#}")),
        };
        run_guest(set, codegen, guest, inv, &self.share).await
    }
}

/// The wasm guests as the runner sees them, for one guest.
pub struct WasmExecutor<'a> {
    runtime: &'a WasmRuntime,
    guest: Guest,
}

impl super::executor::Executor for WasmExecutor<'_> {
    fn host_name(&self) -> &'static str {
        self.guest.host_name()
    }

    fn describe(&self, _: &super::limits::Limits) -> Vec<(crate::store::logline::Level, String)> {
        Vec::new()
    }

    /// The guest's own paths; host paths never reach it.
    fn view(&self, _: &super::executor::Dirs) -> super::executor::Dirs {
        super::executor::Dirs {
            work: guest_paths::JOB.into(),
            data: guest_paths::DATA.into(),
            tmp: guest_paths::TMP.into(),
        }
    }

    fn writes_as_host(&self) -> bool {
        true
    }

    fn run(&self, inv: Invocation) -> super::executor::Running<'_> {
        Box::pin(self.runtime.run(self.guest, inv))
    }
}

/// Runs one invocation to its end with the engine set for `codegen`.
async fn run_guest(
    set: Arc<EngineSet>,
    codegen: CodeGen,
    guest: Guest,
    inv: Invocation,
    share: &Arc<Share>,
) -> Outcome {
    let metered = codegen.fuel();
    // The first use of a guest compiles (and may pre-initialise) it:
    // off the async workers, and a stop request does not wait for it.
    let loading = {
        let set = set.clone();
        tokio::task::spawn_blocking(move || set.guest(guest))
    };
    let pre = tokio::select! {
        r = loading => match r {
            Ok(Ok(pre)) => pre,
            Ok(Err(e)) => return crashed(format!("cannot load the {} guest: {e:#}", guest.id())),
            Err(e) => return crashed(format!("loading the {} guest failed: {e}", guest.id())),
        },
        _ = inv.stop.stopped() => return Ending::Stopped.into(),
    };
    let (wasi, disk) = match wasi_context(guest, &inv) {
        Ok(w) => w,
        Err(e) => return crashed(format!("cannot prepare the guest's environment: {e:#}")),
    };
    let memory_bytes = (inv.limits.memory_mb.min(engine::MAX_MEMORY_BYTES >> 20) << 20) as usize;
    let mut store = Store::new(
        &set.engine,
        RunState {
            wasi,
            limiter: JobLimiter::new(memory_bytes),
            disk,
            sockets: sockets::Sockets::new(net_context(&inv)),
        },
    );
    store.limiter(|s| &mut s.limiter);
    let fuel = inv.limits.fuel.unwrap_or(0);
    if metered && let Err(e) = store.set_fuel(fuel) {
        return crashed(format!("cannot set fuel: {e:#}"));
    }
    // Every epoch tick while wasm executes is CPU progress, and a chance
    // for the runtime to preempt the guest (timeouts, stop requests).
    if codegen.epoch() {
        let progress = inv.activity.clone();
        store.epoch_deadline_callback(move |_| {
            progress.touch();
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
    }

    let limits = inv.limits;
    let activity = inv.activity.clone();
    let stop = inv.stop.clone();
    // Preparing the run (copying, loading) is not the job's idleness.
    inv.activity.touch();
    let mut guest_time = None;
    // A guest executes only while it holds a place, shared fairly between
    // tenants (the unchecked baseline never yields: it is not scheduled).
    let seat = codegen.epoch().then(|| {
        let engine = set.engine.clone();
        share.seat(
            &inv.tenant.name,
            inv.tenant.cpu_share,
            Arc::new(move || engine.increment_epoch()),
        )
    });
    let result = {
        let call = async {
            let instance = pre.instantiate_async(&mut store).await?;
            let start = instance.get_typed_func::<(), ()>(&mut store, RUN_EXPORT)?;
            let entered = std::time::Instant::now();
            let r = start.call_async(&mut store, ()).await;
            guest_time = Some(entered.elapsed());
            r
        };
        tokio::pin!(call);
        // Waiting for a place is not the job's idleness: the idle clock
        // starts again when the guest gets its place back.
        let waited = || activity.touch();
        let fair = async {
            match &seat {
                Some(seat) => seat.run(&mut call, waited).await,
                None => (&mut call).await,
            }
        };
        tokio::select! {
            r = fair => Ok(r),
            e = watch(&limits, &activity, &stop, inv.shutdown.as_ref()) => Err(e),
            e = inv.network.exceeded() => Err(e),
        }
    };
    drop(seat);
    let fuel_consumed = metered.then(|| fuel.saturating_sub(store.get_fuel().unwrap_or(0)));
    let memory_hit = store.data().limiter.memory_hit;
    let usage = Usage {
        peak_memory: Some(store.data().limiter.memory_peak as u64),
        guest_time,
    };
    drop(store); // closes the guest's ends of the capture pipes
    let ending = match result {
        Err(ending) => ending,
        Ok(Ok(())) => Ending::Exited(0),
        Ok(Err(e)) => classify(e, memory_hit),
    };
    Outcome {
        ending,
        fuel_consumed,
        usage,
        notes: Vec::new(),
    }
}

/// What the run's sockets are held to, when it has network.
fn net_context(inv: &Invocation) -> Option<sockets::NetContext> {
    match &inv.network {
        crate::runtime::NetAccess::Proxied {
            policy,
            say,
            budget,
            trust,
            resolver,
        } => Some(sockets::NetContext {
            policy: policy.clone(),
            say: say.clone(),
            budget: budget.clone(),
            trust: trust.clone(),
            resolver: resolver.clone(),
            activity: inv.activity.clone(),
        }),
        _ => None,
    }
}

fn crashed(msg: String) -> Outcome {
    Ending::Crashed(msg).into()
}

/// How a guest's error ended the run.
/// A failure after the memory cap refused a grow is blamed on the cap (the
/// guest's own out-of-memory path), its exit status kept.
fn classify(e: wasmtime::Error, memory_hit: bool) -> Ending {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return if exit.0 != 0 && memory_hit {
            Ending::Limit(LimitKind::Memory, Some(exit.0))
        } else {
            Ending::Exited(exit.0)
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Ending::Limit(LimitKind::Fuel, None),
        _ if memory_hit => Ending::Limit(LimitKind::Memory, None),
        Some(Trap::StackOverflow) => Ending::Crashed(
            "the guest overflowed its call stack (wasm trap: call stack exhausted)".into(),
        ),
        Some(trap) => Ending::Crashed(format!("the guest trapped: {trap}")),
        None => Ending::Crashed(format!("{e:#}")),
    }
}

/// The directories a guest sees, in the order they are preopened: the
/// guest's read-only library tree (if any), then the run's working copy,
/// data and tmp. Runs and pre-initialisation use this one list, so the
/// preopen table a snapshot recorded matches every run's.
pub(crate) fn preopens<'a>(
    stdlib: Option<&'a std::path::Path>,
    work: &'a std::path::Path,
    data: &'a std::path::Path,
    tmp: &'a std::path::Path,
) -> Vec<(&'a std::path::Path, &'static str, FsPerms)> {
    let mut v = Vec::with_capacity(4);
    if let Some(lib) = stdlib {
        v.push((lib, PYTHON_STDLIB_MOUNT, FsPerms::ReadOnly));
    }
    v.push((work, guest_paths::JOB, FsPerms::ReadWrite));
    v.push((data, guest_paths::DATA, FsPerms::ReadWrite));
    v.push((tmp, guest_paths::TMP, FsPerms::ReadWrite));
    v
}

/// The guest's WASI context and, when the run is accounted, its disk
/// state (the pool of each preopened folder).
fn wasi_context(
    guest: Guest,
    inv: &Invocation,
) -> Result<(wasmtime_wasi::p1::WasiP1Ctx, Option<disk::GuestDisk>)> {
    let mut b = WasiCtxBuilder::new();
    b.arg(&inv.script);
    for a in &inv.args {
        b.arg(a);
    }
    for (k, v) in &inv.env {
        b.env(k, v);
    }
    let cwd = if inv.script_subdir.is_empty() {
        guest_paths::JOB.to_string()
    } else {
        format!("{}/{}", guest_paths::JOB, inv.script_subdir)
    };
    b.env(GUEST_CWD_VAR, cwd);
    b.stdout(OutputFile::new(inv.stdout.try_clone()?));
    b.stderr(OutputFile::new(inv.stderr.try_clone()?));
    let files = guest.files()?;
    let stdlib = files.as_ref().map(|f| f.stdlib.as_path());
    let mut pools = Vec::with_capacity(4);
    for (host, guest_path, perms) in preopens(stdlib, &inv.work_dir, &inv.data_dir, &inv.tmp_dir) {
        b.preopened_dir(host, guest_path, perms)?;
        pools.push(match guest_path {
            guest_paths::DATA => Some(Pool::Data),
            guest_paths::JOB | guest_paths::TMP => Some(Pool::Scratch),
            _ => None,
        });
    }
    let disk = inv
        .disk
        .as_ref()
        .map(|account| disk::GuestDisk::new(account.clone(), &pools));
    Ok((b.build_p1(), disk))
}
