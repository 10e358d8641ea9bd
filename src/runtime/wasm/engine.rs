//! The shared wasmtime engines. One engine per code-generation variant
//! ([`CodeGen`]): fuel metering changes the generated code (and costs ~45%
//! on tight loops), so runs without a fuel limit use an engine without it,
//! and the metered engine is only built when a job asks for fuel. Each engine has a pooling
//! allocator (copy-on-write memory images, slots reused after a reset), an
//! epoch ticker thread (but the benchmark's unchecked engine), and an
//! `InstancePre` per guest, so starting a run never compiles or links. A slot's reset restores the pages the run
//! dirtied in place (up to [`KEEP_RESIDENT`] bytes, found with Linux's
//! `PAGEMAP_SCAN`) instead of unmapping them: the next run neither faults
//! them in again nor copies them, and no reset or fault has to stop the
//! host's other threads to flush their TLBs, which under load had halved
//! the runs per second.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, OptLevel,
    PoolingAllocationConfig,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;

use super::limiter::JobLimiter;
use super::reserve::MemoryPlan;
use super::{Guest, cache};

/// How often the epoch advances; the granularity of timeouts and of the
/// guest's cooperative yields.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The wasm call stack a guest may use (CPython on WASI expects ~8 MiB).
pub const MAX_WASM_STACK: usize = 8 << 20;

/// How many bytes of a pooled slot's dirty linear memory are reset in
/// place after a run rather than unmapped (a slot that ran keeps up to this
/// much resident between runs).
pub const KEEP_RESIDENT: usize = 8 << 20;

/// Largest linear memory any guest may have (the ceiling of `memory_mb`).
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// What the generated code checks, which decides what the host can enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeGen {
    /// Epoch checks at loop heads and function entries: wall-clock limits
    /// and stop requests preempt the guest. Every run has them.
    Epoch,
    /// Epoch checks plus fuel metering (runs with a fuel limit).
    Fuel,
    /// Neither: nothing can interrupt the guest before it returns. Only the
    /// benchmark uses it, as the baseline the other two are measured against.
    Unchecked,
}

impl CodeGen {
    /// Whether the guest is preempted on epoch ticks.
    pub fn epoch(self) -> bool {
        self != CodeGen::Unchecked
    }

    /// Whether fuel is metered.
    pub fn fuel(self) -> bool {
        self == CodeGen::Fuel
    }
}

/// Per-store state of a run.
pub struct RunState {
    /// The WASI preview 1 context.
    pub wasi: WasiP1Ctx,
    /// Memory and table limits.
    pub limiter: JobLimiter,
    /// Disk accounting of the run's folders (none when instantiated alone).
    pub disk: Option<super::disk::GuestDisk>,
    /// The guest's sockets, held to the run's network policy.
    pub sockets: super::sockets::Sockets,
}

/// An engine with its pre-linked guests (loaded on first use).
pub struct EngineSet {
    /// The engine.
    pub engine: Engine,
    /// What its code checks.
    pub codegen: CodeGen,
    linker: Linker<RunState>,
    cache_dir: PathBuf,
    guests: Mutex<HashMap<Guest, Arc<InstancePre<RunState>>>>,
}

impl EngineSet {
    /// Builds the engine and its WASI linker and, when its code checks
    /// epochs, starts the epoch ticker. `slots` bounds concurrent
    /// instances; `plan` says how their memories are reserved.
    pub fn new(
        codegen: CodeGen,
        slots: u32,
        plan: MemoryPlan,
        cache_dir: &Path,
    ) -> Result<EngineSet> {
        let mut config = Config::new();
        config
            .epoch_interruption(codegen.epoch())
            .consume_fuel(codegen.fuel())
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(MAX_WASM_STACK + (1 << 20))
            .memory_init_cow(true)
            .cranelift_opt_level(OptLevel::Speed);
        plan.configure(&mut config);
        if let MemoryPlan::Pooled { reservation, .. } = plan {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_core_instances(slots)
                .total_memories(slots)
                .total_tables(slots)
                .total_stacks(slots)
                .max_memories_per_module(1)
                .max_tables_per_module(4)
                .max_memory_size(reservation as usize)
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .pagemap_scan(wasmtime::Enabled::Auto);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)?;

        let mut linker: Linker<RunState> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut RunState| &mut s.wasi)?;
        // wasmtime-wasi's own proc_exit turns statuses >= 126 into a trap;
        // ours passes every status through unchanged.
        linker.allow_shadowing(true);
        linker.func_wrap(
            "wasi_snapshot_preview1",
            "proc_exit",
            |status: i32| -> wasmtime::Result<()> { Err(I32Exit(status).into()) },
        )?;
        // What the run's folders hold is counted on every call that
        // changes it; a FIFO, socket or device in a job's folders is
        // refused, never opened (its open would block a host thread).
        super::disk::add(&mut linker, |s: &mut RunState| {
            (&mut s.wasi, s.disk.as_mut())
        })?;
        // A guest's sockets are the host's (none for a run without network).
        super::sockets::add(&mut linker, |s: &mut RunState| &mut s.sockets)?;

        if codegen.epoch() {
            let ticker = engine.weak();
            std::thread::Builder::new()
                .name("epoch-ticker".into())
                .spawn(move || {
                    while let Some(engine) = ticker.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })?;
        }
        Ok(EngineSet {
            engine,
            codegen,
            linker,
            cache_dir: cache_dir.to_path_buf(),
            guests: Mutex::new(HashMap::new()),
        })
    }

    /// The pre-linked guest, loading (or compiling and caching) it on first use.
    pub fn guest(&self, g: Guest) -> Result<Arc<InstancePre<RunState>>> {
        let mut guests = self.guests.lock().expect("guest lock");
        if let Some(pre) = guests.get(&g) {
            return Ok(pre.clone());
        }
        let module = cache::load(&self.cache_dir, &self.engine, g)?;
        let pre = Arc::new(self.linker.instantiate_pre(&module)?);
        guests.insert(g, pre.clone());
        Ok(pre)
    }
}
