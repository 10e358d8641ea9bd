//! Pre-initialisation (Wizer) of guests that export an init function: the
//! guest is instantiated once with the same directory layout as a run, its
//! init export runs (CPython starts and imports its common modules), and the
//! initialised memory and globals are written out as a new module whose
//! data segments are that heap. Runs then start from it through the usual
//! copy-on-write instantiation, and re-read their own arguments,
//! environment and directories in the guest's run export. Every run gets a
//! fresh instance of the image, so nothing of one run reaches another.
//!
//! A snapshot is looked for in the host's module cache, then among the
//! installed ones (`install-guests`), and made only when neither has it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use wasmtime::{Config, Engine, Instance, Linker, Module, Store, Val};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::engine::MAX_WASM_STACK;
use super::guest::{GuestFiles, INIT_EXPORT};
use super::reserve::MemoryPlan;
use super::{Guest, installed, preopens};
use crate::store::fsutil::{RemoveOnDrop, fresh_dir, sweep_fresh_dirs, write_atomic};

/// The prefix of the folders a snapshot is made in (inside the module
/// cache, never `$TMPDIR`).
const SCRATCH_PREFIX: &str = "snapshot-scratch";

/// Guest hashes whose installed snapshot did not compile here: passed over
/// from then on (an install is not this host's to remove).
static PASSED_OVER: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The file a snapshot is kept in, in a module cache or an install.
pub(super) fn snapshot_path(cache_dir: &Path, guest: Guest, guest_hash: &str) -> PathBuf {
    cache_dir.join(format!(
        "{}-{}.snapshot.wasm",
        guest.id(),
        &guest_hash[..16]
    ))
}

fn passed_over(guest_hash: &str) -> bool {
    let set = PASSED_OVER.lock().expect("passed-over lock");
    set.as_ref().is_some_and(|s| s.contains(guest_hash))
}

/// Forgets a cached snapshot (it will be made again); an installed one is
/// passed over from now on.
pub fn discard(cache_dir: &Path, guest: Guest, guest_hash: &str) {
    let _ = std::fs::remove_file(snapshot_path(cache_dir, guest, guest_hash));
    PASSED_OVER
        .lock()
        .expect("passed-over lock")
        .get_or_insert_default()
        .insert(guest_hash.to_string());
}

/// Whether the snapshot of `guest` exists, in the cache or installed
/// (then only compiling remains).
pub fn ready(cache_dir: &Path, guest: Guest, guest_hash: &str) -> bool {
    snapshot_path(cache_dir, guest, guest_hash).is_file()
        || (!passed_over(guest_hash) && installed::has_snapshot(guest, guest_hash))
}

/// The pre-initialised module of `guest`, from the cache, else installed,
/// else made now (and cached).
pub fn load_or_make(cache_dir: &Path, guest: Guest, guest_hash: &str) -> Result<Vec<u8>> {
    let path = snapshot_path(cache_dir, guest, guest_hash);
    if let Ok(bytes) = std::fs::read(&path) {
        return Ok(bytes);
    }
    if !passed_over(guest_hash)
        && let Some(bytes) = installed::snapshot(guest, guest_hash)
    {
        return Ok(bytes);
    }
    tracing::info!(
        "pre-initialising the {} guest (once; cached in {})",
        guest.id(),
        cache_dir.display()
    );
    let files = guest.files()?;
    // The snapshot runs its own small runtime; keep it off the caller's.
    let bytes = std::thread::scope(|s| s.spawn(|| make(guest, files.as_ref(), cache_dir)).join())
        .map_err(|_| anyhow::anyhow!("the pre-initialisation thread panicked"))??;
    write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(bytes)
}

/// Pre-initialises `guest` with these files (`None` for an embedded guest)
/// and returns the snapshot. Its scratch folders are made in `scratch_in`
/// (the module cache it is made for, which the host writes anyway) and
/// removed after.
pub fn make(guest: Guest, files: Option<&GuestFiles>, scratch_in: &Path) -> Result<Vec<u8>> {
    let stdlib = files.map(|f| f.stdlib.clone());
    let wasm = guest.wasm_of(files)?;
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_EXPORT);
    let (cx, instrumented) = wizer.instrument(&wasm).map_err(anyhow::Error::from)?;

    let mut config = Config::new();
    config
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + (1 << 20));
    // One instance, once: its memory is mapped as it grows, which fits
    // any address-space limit a host may have (`ulimit -v`).
    MemoryPlan::OnDemand.configure(&mut config);
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    let module = Module::new(&engine, &instrumented)
        .map_err(anyhow::Error::from)
        .context("compiling for pre-initialisation")?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s| s)?;
    // The host's own calls (sockets) are not made while initialising.
    linker.define_unknown_imports_as_traps(&module)?;

    // The same directories, in the same order, as every run will have: the
    // guest's libc records its preopened directories during initialisation.
    sweep_fresh_dirs(scratch_in, SCRATCH_PREFIX);
    let scratch = fresh_dir(scratch_in, SCRATCH_PREFIX).with_context(|| {
        format!(
            "making the folders that pre-initialising the {} guest needs in {} (the module cache)",
            guest.noun(),
            scratch_in.display()
        )
    })?;
    let _cleanup = RemoveOnDrop(vec![scratch.clone()]);
    let dirs: Vec<_> = ["job", "data", "tmp"]
        .iter()
        .map(|d| scratch.join(d))
        .collect();
    for d in &dirs {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut b = WasiCtxBuilder::new();
    b.inherit_stderr();
    for (host, guest_path, perms) in preopens(stdlib.as_deref(), &dirs[0], &dirs[1], &dirs[2]) {
        b.preopened_dir(host, guest_path, perms)?;
    }
    let mut store = Store::new(&engine, b.build_p1());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let instance = linker.instantiate_async(&mut store, &module).await?;
        if let Some(f) = instance.get_func(&mut store, "_initialize") {
            f.typed::<(), ()>(&store)?
                .call_async(&mut store, ())
                .await?;
        }
        instance
            .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)?
            .call_async(&mut store, ())
            .await?;
        wizer
            .snapshot(
                &cx,
                &mut Snapshotting {
                    store: &mut store,
                    instance,
                },
            )
            .await
    });
    result
        .map_err(anyhow::Error::from)
        .with_context(|| format!("pre-initialising the {} guest", guest.id()))
}

struct Snapshotting<'a> {
    store: &'a mut Store<WasiP1Ctx>,
    instance: Instance,
}

impl InstanceState for Snapshotting<'_> {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("exported global");
        match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            _ => panic!("unsupported global value type"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("exported memory");
        contents(memory.data(&*self.store))
    }
}
