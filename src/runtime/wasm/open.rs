//! The guests' `path_open`, guarded against files that would block the
//! host. WASI's own `path_open` opens the host file on a blocking thread
//! with a plain `openat`: a FIFO (planted in a job's data folder by a
//! native run, say) blocks that `openat` until a writer comes, forever,
//! and each such run left a host thread stuck. Here every open is preceded
//! by a `path_filestat_get` of the same path with the same lookup flags
//! (which never blocks), and anything but a regular file, a folder or a
//! symlink (not followed) is refused with `EACCES` before it is opened.
//! Guests cannot make FIFOs, sockets or devices themselves, and a run's
//! folders have no other writer while it runs, so nothing can swap the
//! file between the check and the open.

use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
use wiggle::GuestMemory;

/// Size of WASI's `filestat`, which `path_filestat_get` writes.
const FILESTAT_SIZE: usize = 64;
/// Offset of `filetype` in a `filestat`.
const FILETYPE_AT: usize = 16;
/// WASI's `filetype` values a guest may open.
const DIRECTORY: u8 = 3;
const REGULAR_FILE: u8 = 4;
const SYMBOLIC_LINK: u8 = 7;
/// WASI's `errno` for "permission denied".
const ERRNO_ACCES: i32 = 2;

/// Replaces `path_open` in `linker` (which already has WASI preview 1,
/// shadowing allowed); `wasi` finds the WASI context in the store's data,
/// as for wasmtime-wasi's own `add_to_linker_async`.
pub fn add<T: Send + 'static>(
    linker: &mut Linker<T>,
    wasi: fn(&mut T) -> &mut WasiP1Ctx,
) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "wasi_snapshot_preview1",
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
                let fuel = caller.as_context_mut().hostcall_fuel();
                let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
                    wasmtime::bail!("missing required memory export");
                };
                let (mem, data) = memory.data_and_store_mut(&mut caller);
                let ctx = wasi(data);
                let Some(scratch) =
                    scratch(mem.len(), path as u32 as usize, path_len as u32 as usize)
                else {
                    return Ok(ERRNO_ACCES);
                };
                let saved: [u8; FILESTAT_SIZE] = mem[scratch..scratch + FILESTAT_SIZE]
                    .try_into()
                    .expect("a filestat's size");
                let mut guest = GuestMemory::Unshared(mem);
                ctx.set_hostcall_fuel(fuel);
                let stat = p1::path_filestat_get(
                    ctx,
                    &mut guest,
                    fd,
                    dirflags,
                    path,
                    path_len,
                    scratch as i32,
                )
                .await;
                let GuestMemory::Unshared(mem) = &mut guest else {
                    unreachable!("the memory is unshared");
                };
                let filetype = mem[scratch + FILETYPE_AT];
                mem[scratch..scratch + FILESTAT_SIZE].copy_from_slice(&saved);
                if stat? == 0 && !matches!(filetype, DIRECTORY | REGULAR_FILE | SYMBOLIC_LINK) {
                    return Ok(ERRNO_ACCES);
                }
                ctx.set_hostcall_fuel(fuel);
                p1::path_open(
                    ctx, &mut guest, fd, dirflags, path, path_len, oflags, rights, inheriting,
                    fdflags, opened,
                )
                .await
            })
        },
    )?;
    Ok(())
}

/// Where in guest memory `path_filestat_get` may write its answer for a
/// moment (the bytes there are put back before the guest runs again): the
/// start of memory, or just after the path when the path lies there.
fn scratch(len: usize, path: usize, path_len: usize) -> Option<usize> {
    let overlaps = |at: usize| at < path.saturating_add(path_len) && path < at + FILESTAT_SIZE;
    let after = path.saturating_add(path_len).checked_next_multiple_of(8)?;
    [0, after]
        .into_iter()
        .find(|&at| !overlaps(at) && at.saturating_add(FILESTAT_SIZE) <= len)
}

#[cfg(test)]
mod tests {
    use super::scratch;

    #[test]
    fn the_scratch_never_overlaps_the_path() {
        assert_eq!(scratch(65536, 1024, 10), Some(0));
        assert_eq!(scratch(65536, 10, 10), Some(24));
        assert_eq!(scratch(65536, 60, 3), Some(64));
        assert_eq!(scratch(100, 30, 30), None, "no room after the path");
        assert_eq!(scratch(32, 1000, 5), None, "a tiny memory");
    }
}
