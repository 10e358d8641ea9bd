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
//! file between the check and the open. The shadow of `path_open` itself
//! is registered by the disk accounting ([`super::disk`]), which counts
//! what the open creates or truncates around this check.

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::{self, Filetype};
use wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1;
use wiggle::{GuestMemory, GuestPtr};

/// WASI's `errno` for "permission denied".
const ERRNO_ACCES: i32 = 2;

/// The file `path` (relative to `fd`, looked up with `dirflags`) names
/// before it is opened: `Ok(None)` when there is none (or the lookup
/// fails: the open will say why), `Err(errno)` when it must not be opened.
pub(super) async fn check(
    ctx: &mut WasiP1Ctx,
    guest: &mut GuestMemory<'_>,
    fd: i32,
    dirflags: i32,
    path: i32,
    path_len: i32,
) -> Result<Option<types::Filestat>, i32> {
    let stat = ctx
        .path_filestat_get(
            guest,
            types::Fd::from(fd),
            types::Lookupflags::from_bits_truncate(dirflags as u32),
            GuestPtr::new((path as u32, path_len as u32)),
        )
        .await;
    match stat {
        Ok(s) => match s.filetype {
            Filetype::Directory | Filetype::RegularFile | Filetype::SymbolicLink => Ok(Some(s)),
            _ => Err(ERRNO_ACCES),
        },
        Err(_) => Ok(None),
    }
}
