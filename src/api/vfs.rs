//! `/vfs/data/jobs/{type}/{name}/...`: a tenant's run logs, scheduler and
//! continuous logs and its jobs' data files, read-only and confined to the
//! tenant's data folder (paths resolve through a `cap_std` handle that
//! cannot leave it; `.`, `..` and a symlink as the file itself are
//! refused). Jobs write these files, so nothing is trusted about them: a
//! file is opened without blocking and served only if it is a regular file
//! (a FIFO, socket or device is refused), and its bytes are streamed in
//! chunks from a blocking thread, never read whole, with `Range` support.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

/// Bytes read and sent at a time (files and run output).
pub const CHUNK: usize = 64 << 10;

/// Opens `rel` (slash-separated) under `data_root` for reading, if it is a
/// regular file there; returns it with its length.
pub fn open(data_root: &Path, rel: &str) -> Option<(std::fs::File, u64)> {
    if rel
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\0'))
    {
        return None;
    }
    let root = Dir::open_ambient_dir(data_root, ambient_authority()).ok()?;
    let mut opts = OpenOptions::new();
    opts.read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY);
    let file = root.open_with(rel, &opts).ok()?.into_std();
    // What was opened must be what the name is now, not a symlink's target.
    let named = root.symlink_metadata(rel).ok()?;
    let opened = file.metadata().ok()?;
    {
        use cap_std::fs::MetadataExt as _;
        use std::os::unix::fs::MetadataExt as _;
        if !named.is_file() || named.dev() != opened.dev() || named.ino() != opened.ino() {
            return None;
        }
    }
    regular(file)
}

fn regular(file: std::fs::File) -> Option<(std::fs::File, u64)> {
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta.len()))
}

/// A byte range a request asks for, resolved against a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The whole file (no `Range`, or one this server ignores).
    All,
    /// Bytes `start..end` (end exclusive).
    Part(u64, u64),
    /// The range lies beyond the file (`416`).
    Unsatisfiable,
}

/// The one byte range of a `Range: bytes=...` header. Several ranges, or a
/// header that does not parse, are ignored: the whole file is sent.
pub fn wanted(range: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        // The last n bytes.
        (true, false) => match parse(b) {
            Some(0) => Wanted::Unsatisfiable,
            Some(n) if len > 0 => Wanted::Part(len.saturating_sub(n), len),
            Some(_) => Wanted::Unsatisfiable,
            None => Wanted::All,
        },
        (false, _) => {
            let Some(start) = parse(a) else {
                return Wanted::All;
            };
            let end = if b.is_empty() {
                len
            } else {
                match parse(b) {
                    Some(e) if e >= start => e.saturating_add(1).min(len),
                    _ => return Wanted::All,
                }
            };
            if start >= len {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(start, end)
            }
        }
        (true, true) => Wanted::All,
    }
}

/// The response for an opened file: `200` with all of it, or `206` with
/// the range asked for, or `416`; the body streamed from a blocking
/// thread a chunk at a time.
pub fn respond(file: std::fs::File, len: u64, headers: &HeaderMap) -> Response {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match wanted(range, len) {
        Wanted::All => (StatusCode::OK, 0, len),
        Wanted::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
        Wanted::Unsatisfiable => {
            let mut r = super::error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the range asked for lies beyond the file's {len} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let mut r = (status, stream(file, start, end)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

/// Bytes `start..end` of `file` as a body, read a chunk at a time on a
/// blocking thread (the file may grow or shrink meanwhile: the body ends
/// at `end` or at the file's end, whichever comes first).
pub fn stream(file: std::fs::File, start: u64, end: u64) -> Body {
    struct At {
        file: Option<std::fs::File>,
        pos: u64,
        end: u64,
    }
    let st = At {
        file: Some(file),
        pos: start,
        end,
    };
    let chunks = futures_util::stream::unfold(st, |mut st| async move {
        let want = st.end.saturating_sub(st.pos).min(CHUNK as u64) as usize;
        let file = st.file.take()?;
        if want == 0 {
            return None;
        }
        let pos = st.pos;
        let read = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let mut buf = vec![0u8; want];
            let n = file
                .seek(SeekFrom::Start(pos))
                .and_then(|_| read_some(&mut file, &mut buf))?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match read {
            Ok((_, buf)) if buf.is_empty() => None,
            Ok((file, buf)) => {
                st.pos += buf.len() as u64;
                st.file = Some(file);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), st))
            }
            Err(e) => Some((Err(e), st)),
        }
    });
    Body::from_stream(chunks)
}

/// Fills `buf` as far as the file goes.
fn read_some(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110() {
        assert_eq!(wanted(None, 100), Wanted::All);
        assert_eq!(wanted(Some("bytes=0-9"), 100), Wanted::Part(0, 10));
        assert_eq!(wanted(Some("bytes=90-"), 100), Wanted::Part(90, 100));
        assert_eq!(wanted(Some("bytes=90-500"), 100), Wanted::Part(90, 100));
        assert_eq!(wanted(Some("bytes=-10"), 100), Wanted::Part(90, 100));
        assert_eq!(wanted(Some("bytes=-500"), 100), Wanted::Part(0, 100));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-1,5-6"), 100), Wanted::All);
        assert_eq!(wanted(Some("bytes=9-3"), 100), Wanted::All);
        assert_eq!(wanted(Some("items=0-3"), 100), Wanted::All);
        assert_eq!(wanted(Some("bytes=x-3"), 100), Wanted::All);
    }

    #[test]
    fn only_regular_files_open_and_nothing_blocks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("jobs")).unwrap();
        std::fs::write(d.path().join("jobs/log.txt"), "hello").unwrap();
        let fifo = std::ffi::CString::new(
            d.path()
                .join("jobs/fifo")
                .to_str()
                .unwrap()
                .as_bytes()
                .to_vec(),
        )
        .unwrap();
        // SAFETY: a valid path; mkfifo takes nothing else.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink(d.path().join("jobs/log.txt"), d.path().join("jobs/link"))
            .unwrap();
        std::os::unix::fs::symlink("log.txt", d.path().join("jobs/relative")).unwrap();
        let (_, len) = open(d.path(), "jobs/log.txt").unwrap();
        assert_eq!(len, 5);
        assert!(open(d.path(), "jobs/fifo").is_none(), "a FIFO was served");
        assert!(
            open(d.path(), "jobs/link").is_none(),
            "a symlink was followed"
        );
        assert!(open(d.path(), "jobs/../jobs/log.txt").is_none());
        assert!(open(d.path(), "jobs").is_none(), "a folder was served");
    }
}
