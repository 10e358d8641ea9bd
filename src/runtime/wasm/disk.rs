//! Disk quotas for wasm runs, kept in the host's WASI layer: every WASI
//! preview 1 call that can grow or shrink what a run's folders hold is
//! shadowed here, asks the run's [`RunDisk`] before it grows anything and
//! tells it what shrank. A write's growth is its apparent growth, `max(0,
//! offset + len - size)`, so a write at 64 GiB is refused before it is
//! made, never performed. A refused change returns `ENOSPC` (a quota) or
//! `EFBIG` (`limits.file_mb`) to the guest, whose libc reports it as any
//! full disk.
//!
//! Each guest descriptor is known to belong to a pool (the scratch: the
//! working copy and tmp; or the data folder) from its preopen or the
//! folder it was opened from; stdout, stderr and the read-only library
//! belong to none and cost nothing. Links and renames between pools are
//! refused with `EXDEV`, as between two file systems.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::{self, Filetype};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
use wiggle::{GuestMemory, GuestPtr};

use crate::store::disk::{FileId, Pool, Refusal, RunDisk, Usage};

const ERRNO_FBIG: i32 = 22;
const ERRNO_NOSPC: i32 = 51;
const ERRNO_NOTSUP: i32 = 58;
const ERRNO_XDEV: i32 = 75;
const OFLAGS_CREAT: i32 = 1;
const OFLAGS_TRUNC: i32 = 8;
const FDFLAGS_APPEND: i32 = 1;
const RIGHT_FD_WRITE: i64 = 1 << 6;

/// A run's disk state as its guest sees it: the account, and the pool of
/// each of its descriptors.
pub struct GuestDisk {
    account: Arc<RunDisk>,
    fds: HashMap<i32, Entry>,
    /// Files whose last name is gone while a descriptor still holds them:
    /// their bytes are counted until the last one closes.
    orphans: HashSet<(Pool, FileId)>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    pool: Pool,
    file: Option<FileId>,
    append: bool,
}

impl GuestDisk {
    /// The state of a new guest whose preopened descriptors (3, 4, ...)
    /// belong to `preopens`, in order (`None`: no pool, read-only).
    pub fn new(account: Arc<RunDisk>, preopens: &[Option<Pool>]) -> GuestDisk {
        let fds = preopens
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.map(|pool| {
                    let e = Entry {
                        pool,
                        file: None,
                        append: false,
                    };
                    (3 + i as i32, e)
                })
            })
            .collect();
        GuestDisk {
            account,
            fds,
            orphans: HashSet::new(),
        }
    }

    fn pool(&self, fd: i32) -> Option<Pool> {
        self.fds.get(&fd).map(|e| e.pool)
    }

    /// Forgets a closed descriptor; frees an orphan it held last.
    fn closed(&mut self, fd: i32) {
        let Some(Entry {
            pool,
            file: Some(id),
            ..
        }) = self.fds.remove(&fd)
        else {
            return;
        };
        if !self.fds.values().any(|e| e.file == Some(id)) && self.orphans.remove(&(pool, id)) {
            self.account.removed(pool, Some(id), 0, 0);
        }
    }

    /// Counts a name gone from `pool`: the file's bytes too when it was
    /// its last name (later, when a descriptor still holds it).
    fn unlinked(&mut self, pool: Pool, st: &types::Filestat) {
        let id = (st.dev, st.ino);
        let last = st.filetype == Filetype::RegularFile && st.nlink <= 1;
        if last && self.fds.values().any(|e| e.file == Some(id)) {
            self.orphans.insert((pool, id));
            self.account.shrink(pool, Usage { bytes: 0, files: 1 });
        } else if last {
            self.account.removed(pool, Some(id), st.size, 1);
        } else {
            self.account.shrink(pool, Usage { bytes: 0, files: 1 });
        }
    }
}

impl Drop for GuestDisk {
    fn drop(&mut self) {
        for (pool, id) in self.orphans.drain() {
            self.account.removed(pool, Some(id), 0, 0);
        }
    }
}

/// Finds the WASI context and the disk state in a store's data.
pub type Project<T> = fn(&mut T) -> (&mut WasiP1Ctx, Option<&mut GuestDisk>);

/// The guest's memory, WASI context and disk state, with the hostcall
/// fuel to give WASI before each call.
fn parts<'a, T: 'static>(
    caller: &'a mut Caller<'_, T>,
    project: Project<T>,
) -> wasmtime::Result<(
    GuestMemory<'a>,
    &'a mut WasiP1Ctx,
    Option<&'a mut GuestDisk>,
    usize,
)> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let (mem, data) = memory.data_and_store_mut(caller);
    let (ctx, disk) = project(data);
    Ok((GuestMemory::Unshared(mem), ctx, disk, fuel))
}

fn read_u32(guest: &GuestMemory<'_>, at: i32) -> Option<u32> {
    let GuestMemory::Unshared(mem) = guest else {
        return None;
    };
    let at = at as u32 as usize;
    let b = mem.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// The length WASI will write: its first non-empty buffer's.
fn first_len(guest: &GuestMemory<'_>, iovs: i32, count: i32) -> u64 {
    (0..count as u32)
        .map(|i| read_u32(guest, (iovs as u32).wrapping_add(i * 8 + 4) as i32).unwrap_or(0))
        .find(|&n| n > 0)
        .unwrap_or(0) as u64
}

fn errno_of(r: Refusal) -> i32 {
    match r {
        Refusal::FileSize => ERRNO_FBIG,
        _ => ERRNO_NOSPC,
    }
}

/// A file's size, from the ledger or, when it does not know it, a stat.
async fn size_of(
    disk: &GuestDisk,
    ctx: &mut WasiP1Ctx,
    guest: &mut GuestMemory<'_>,
    fd: i32,
    pool: Pool,
    id: FileId,
) -> Option<u64> {
    match disk.account.size_of(pool, id) {
        Some(s) => Some(s),
        None => ctx
            .fd_filestat_get(guest, types::Fd::from(fd))
            .await
            .ok()
            .map(|s| s.size),
    }
}

/// A write of `len` bytes at `at` (`None`: the current position, or the
/// end in append mode) to `fd`: counted before, settled after.
async fn write<T: 'static>(
    caller: &mut Caller<'_, T>,
    project: Project<T>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    at: Option<u64>,
    nwritten: i32,
) -> wasmtime::Result<i32> {
    let (mut guest, ctx, disk, fuel) = parts(caller, project)?;
    let raw = async |ctx: &mut WasiP1Ctx, guest: &mut GuestMemory<'_>| {
        ctx.set_hostcall_fuel(fuel);
        match at {
            Some(off) => p1::fd_pwrite(ctx, guest, fd, iovs, iovs_len, off as i64, nwritten).await,
            None => p1::fd_write(ctx, guest, fd, iovs, iovs_len, nwritten).await,
        }
    };
    let entry = disk.as_ref().and_then(|d| d.fds.get(&fd).copied());
    let (
        Some(disk),
        Some(Entry {
            pool,
            file: Some(id),
            append,
        }),
    ) = (disk, entry)
    else {
        return raw(ctx, &mut guest).await;
    };
    let len = first_len(&guest, iovs, iovs_len);
    if len == 0 {
        return raw(ctx, &mut guest).await;
    }
    let Some(size) = size_of(disk, ctx, &mut guest, fd, pool, id).await else {
        return raw(ctx, &mut guest).await;
    };
    let start = match (append, at) {
        (true, _) => size,
        (false, Some(off)) => off,
        (false, None) => match ctx.fd_tell(&mut guest, types::Fd::from(fd)) {
            Ok(pos) => pos,
            Err(_) => return raw(ctx, &mut guest).await,
        },
    };
    let Some(end) = start.checked_add(len) else {
        return Ok(ERRNO_FBIG);
    };
    let old = match disk.account.resize(pool, id, size, end, false) {
        Ok(old) => old,
        Err(r) => return Ok(errno_of(r)),
    };
    let errno = raw(ctx, &mut guest).await?;
    let done = if errno == 0 {
        read_u32(&guest, nwritten).map_or(len, u64::from)
    } else {
        0
    };
    if done < len && end > old {
        let _ = disk
            .account
            .resize(pool, id, old, old.max(start + done), true);
    }
    Ok(errno)
}

/// Replaces every WASI call that changes what a run's folders hold
/// (`path_open` with its guard, [`super::open`]) in `linker`, which
/// already has WASI preview 1 (shadowing allowed).
pub fn add<T: Send + 'static>(linker: &mut Linker<T>, project: Project<T>) -> wasmtime::Result<()> {
    const M: &str = "wasi_snapshot_preview1";
    linker.func_wrap_async(
        M,
        "fd_write",
        move |mut caller: Caller<'_, T>, (fd, iovs, n, nw): (i32, i32, i32, i32)| {
            Box::new(async move { write(&mut caller, project, fd, iovs, n, None, nw).await })
        },
    )?;
    linker.func_wrap_async(
        M,
        "fd_pwrite",
        move |mut caller: Caller<'_, T>, (fd, iovs, n, off, nw): (i32, i32, i32, i64, i32)| {
            Box::new(
                async move { write(&mut caller, project, fd, iovs, n, Some(off as u64), nw).await },
            )
        },
    )?;
    linker.func_wrap_async(
        M,
        "fd_allocate",
        move |mut caller: Caller<'_, T>, (fd, off, len): (i32, i64, i64)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                if disk.is_some_and(|d| d.pool(fd).is_some()) {
                    return Ok(ERRNO_NOTSUP);
                }
                ctx.set_hostcall_fuel(fuel);
                p1::fd_allocate(ctx, &mut guest, fd, off, len)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "fd_filestat_set_size",
        move |mut caller: Caller<'_, T>, (fd, size): (i32, i64)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                ctx.set_hostcall_fuel(fuel);
                let entry = disk.as_ref().and_then(|d| d.fds.get(&fd).copied());
                let (
                    Some(disk),
                    Some(Entry {
                        pool,
                        file: Some(id),
                        ..
                    }),
                ) = (disk, entry)
                else {
                    return p1::fd_filestat_set_size(ctx, &mut guest, fd, size).await;
                };
                let Some(current) = size_of(disk, ctx, &mut guest, fd, pool, id).await else {
                    return p1::fd_filestat_set_size(ctx, &mut guest, fd, size).await;
                };
                let old = match disk.account.resize(pool, id, current, size as u64, true) {
                    Ok(old) => old,
                    Err(r) => return Ok(errno_of(r)),
                };
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::fd_filestat_set_size(ctx, &mut guest, fd, size).await?;
                if errno != 0 {
                    let _ = disk.account.resize(pool, id, old, old, true);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "fd_close",
        move |mut caller: Caller<'_, T>, (fd,): (i32,)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::fd_close(ctx, &mut guest, fd).await?;
                if errno == 0
                    && let Some(d) = disk
                {
                    d.closed(fd);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "fd_renumber",
        move |mut caller: Caller<'_, T>, (from, to): (i32, i32)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::fd_renumber(ctx, &mut guest, from, to).await?;
                if errno == 0
                    && from != to
                    && let Some(d) = disk
                {
                    d.closed(to);
                    if let Some(e) = d.fds.remove(&from) {
                        d.fds.insert(to, e);
                    }
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap(
        M,
        "fd_fdstat_set_flags",
        move |mut caller: Caller<'_, T>, fd: i32, flags: i32| -> wasmtime::Result<i32> {
            let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
            ctx.set_hostcall_fuel(fuel);
            let errno = p1::fd_fdstat_set_flags(ctx, &mut guest, fd, flags)?;
            if errno == 0
                && let Some(e) = disk.and_then(|d| d.fds.get_mut(&fd))
            {
                e.append = flags & FDFLAGS_APPEND != 0;
            }
            Ok(errno)
        },
    )?;
    linker.func_wrap_async(
        M,
        "path_open",
        move |mut caller: Caller<'_, T>,
              (fd, dirflags, path, path_len, oflags, rights, inheriting, fdflags, opened): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i64,
            i64,
            i32,
            i32,
        )| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                ctx.set_hostcall_fuel(fuel);
                let before =
                    match super::open::check(ctx, &mut guest, fd, dirflags, path, path_len).await {
                        Ok(s) => s,
                        Err(errno) => return Ok(errno),
                    };
                let pool = disk.as_ref().and_then(|d| d.pool(fd));
                let creating = before.is_none() && oflags & OFLAGS_CREAT != 0;
                let truncating = before
                    .as_ref()
                    .filter(|s| s.filetype == Filetype::RegularFile && oflags & OFLAGS_TRUNC != 0);
                if let (Some(d), Some(pool), true) = (disk.as_deref(), pool, creating)
                    && let Err(r) = d.account.grow(pool, Usage { bytes: 0, files: 1 })
                {
                    return Ok(errno_of(r));
                }
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::path_open(
                    ctx, &mut guest, fd, dirflags, path, path_len, oflags, rights, inheriting,
                    fdflags, opened,
                )
                .await?;
                let (Some(d), Some(pool)) = (disk, pool) else {
                    return Ok(errno);
                };
                if errno != 0 {
                    if creating {
                        d.account.shrink(pool, Usage { bytes: 0, files: 1 });
                    }
                    return Ok(errno);
                }
                let Some(new_fd) = read_u32(&guest, opened).map(|n| n as i32) else {
                    return Ok(errno);
                };
                let mut entry = Entry {
                    pool,
                    file: None,
                    append: fdflags & FDFLAGS_APPEND != 0,
                };
                if rights & RIGHT_FD_WRITE != 0 || creating || truncating.is_some() {
                    let st = ctx
                        .fd_filestat_get(&mut guest, types::Fd::from(new_fd))
                        .await;
                    if let Ok(st) = st
                        && st.filetype == Filetype::RegularFile
                    {
                        let id = (st.dev, st.ino);
                        match truncating {
                            Some(old) => {
                                let _ = d.account.resize(pool, id, old.size, 0, true);
                            }
                            None => {
                                d.account.know(pool, id, st.size);
                            }
                        }
                        entry.file = Some(id);
                    }
                }
                d.closed(new_fd);
                d.fds.insert(new_fd, entry);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "path_create_directory",
        move |mut caller: Caller<'_, T>, (fd, path, len): (i32, i32, i32)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                let pool = match name_made(disk.as_deref(), fd) {
                    Ok(p) => p,
                    Err(errno) => return Ok(errno),
                };
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::path_create_directory(ctx, &mut guest, fd, path, len).await?;
                name_settled(disk.as_deref(), pool, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "path_symlink",
        move |mut caller: Caller<'_, T>,
              (old, old_len, fd, new, new_len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                let pool = match name_made(disk.as_deref(), fd) {
                    Ok(p) => p,
                    Err(errno) => return Ok(errno),
                };
                ctx.set_hostcall_fuel(fuel);
                let errno =
                    p1::path_symlink(ctx, &mut guest, old, old_len, fd, new, new_len).await?;
                name_settled(disk.as_deref(), pool, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "path_link",
        move |mut caller: Caller<'_, T>,
              (old_fd, flags, old, old_len, fd, new, new_len): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
        )| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                if let Some(d) = disk.as_deref()
                    && d.pool(old_fd) != d.pool(fd)
                {
                    return Ok(ERRNO_XDEV);
                }
                // A hard link adds a name, not bytes (the file is counted once).
                let pool = match name_made(disk.as_deref(), fd) {
                    Ok(p) => p,
                    Err(errno) => return Ok(errno),
                };
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::path_link(
                    ctx, &mut guest, old_fd, flags, old, old_len, fd, new, new_len,
                )
                .await?;
                name_settled(disk.as_deref(), pool, errno);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "path_remove_directory",
        move |mut caller: Caller<'_, T>, (fd, path, len): (i32, i32, i32)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::path_remove_directory(ctx, &mut guest, fd, path, len).await?;
                if errno == 0
                    && let Some(d) = disk
                    && let Some(pool) = d.pool(fd)
                {
                    d.account.shrink(pool, Usage { bytes: 0, files: 1 });
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "path_unlink_file",
        move |mut caller: Caller<'_, T>, (fd, path, len): (i32, i32, i32)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                let pool = disk.as_ref().and_then(|d| d.pool(fd));
                let before = match pool {
                    Some(_) => stat(ctx, &mut guest, fd, path, len).await,
                    None => None,
                };
                ctx.set_hostcall_fuel(fuel);
                let errno = p1::path_unlink_file(ctx, &mut guest, fd, path, len).await?;
                if errno == 0
                    && let (Some(d), Some(pool), Some(st)) = (disk, pool, before)
                {
                    d.unlinked(pool, &st);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        M,
        "path_rename",
        move |mut caller: Caller<'_, T>,
              (fd, old, old_len, new_fd, new, new_len): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (mut guest, ctx, disk, fuel) = parts(&mut caller, project)?;
                let pools = disk.as_ref().map(|d| (d.pool(fd), d.pool(new_fd)));
                if let Some((a, b)) = pools
                    && a != b
                {
                    return Ok(ERRNO_XDEV);
                }
                let pool = pools.and_then(|(a, _)| a);
                let (source, target) = match pool {
                    Some(_) => (
                        stat(ctx, &mut guest, fd, old, old_len).await,
                        stat(ctx, &mut guest, new_fd, new, new_len).await,
                    ),
                    None => (None, None),
                };
                ctx.set_hostcall_fuel(fuel);
                let errno =
                    p1::path_rename(ctx, &mut guest, fd, old, old_len, new_fd, new, new_len)
                        .await?;
                if errno == 0
                    && let (Some(d), Some(pool), Some(t)) = (disk, pool, target)
                    && source.is_none_or(|s| (s.dev, s.ino) != (t.dev, t.ino))
                {
                    // The overwritten target is gone.
                    d.unlinked(pool, &t);
                }
                Ok(errno)
            })
        },
    )?;
    Ok(())
}

/// A path's own filestat (a symlink not followed), if it exists.
async fn stat(
    ctx: &mut WasiP1Ctx,
    guest: &mut GuestMemory<'_>,
    fd: i32,
    path: i32,
    len: i32,
) -> Option<types::Filestat> {
    ctx.path_filestat_get(
        guest,
        types::Fd::from(fd),
        types::Lookupflags::empty(),
        GuestPtr::new((path as u32, len as u32)),
    )
    .await
    .ok()
}

/// Counts a name about to be made in `fd`'s pool (a folder, a symlink, a
/// hard link); `Err(errno)` when it does not fit.
fn name_made(disk: Option<&GuestDisk>, fd: i32) -> Result<Option<Pool>, i32> {
    let Some((d, pool)) = disk.and_then(|d| Some((d, d.pool(fd)?))) else {
        return Ok(None);
    };
    d.account
        .grow(pool, Usage { bytes: 0, files: 1 })
        .map_err(errno_of)?;
    Ok(Some(pool))
}

/// Gives back a name counted by [`name_made`] if the call failed.
fn name_settled(disk: Option<&GuestDisk>, pool: Option<Pool>, errno: i32) {
    if errno != 0
        && let (Some(d), Some(pool)) = (disk, pool)
    {
        d.account.shrink(pool, Usage { bytes: 0, files: 1 });
    }
}
