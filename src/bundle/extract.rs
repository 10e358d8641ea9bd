//! Safe unpacking of a job bundle (zip or directory) into a fresh staging
//! directory. Everything an attacker controls is checked before a byte is
//! written, and every write goes through a `cap_std::fs::Dir` rooted at the
//! staging directory, so no entry can land outside it even if a check were
//! missed.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::BundleError;

/// Caps on what a bundle may unpack to (host settable).
#[derive(Debug, Clone, Copy)]
pub struct ExtractLimits {
    /// Total bytes actually written, all entries together.
    pub max_total_bytes: u64,
    /// Bytes actually written for one entry.
    pub max_entry_bytes: u64,
    /// Number of entries (files and directories).
    pub max_entries: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_total_bytes: 256 << 20,
            max_entry_bytes: 64 << 20,
            max_entries: 10_000,
        }
    }
}

/// Tracks names and sizes across one bundle.
struct Budget {
    limits: ExtractLimits,
    total: u64,
    entries: usize,
    files: HashSet<String>,
    dirs: HashSet<String>,
    folded: HashSet<String>,
}

impl Budget {
    fn new(limits: ExtractLimits) -> Self {
        Budget {
            limits,
            total: 0,
            entries: 0,
            files: HashSet::new(),
            dirs: HashSet::new(),
            folded: HashSet::new(),
        }
    }

    fn count_entry(&mut self) -> Result<(), BundleError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(BundleError::TooManyEntries(self.limits.max_entries));
        }
        Ok(())
    }

    /// Registers a file or directory path, rejecting duplicates and names that
    /// differ only in case, or a file that is also used as a directory. Every
    /// file and every directory (explicit or implied by a path) counts as an
    /// entry, so deep paths cannot create folders beyond the entry cap.
    fn claim(&mut self, path: &str, is_dir: bool) -> Result<(), BundleError> {
        let parts: Vec<&str> = path.split('/').collect();
        let dir_parts = if is_dir { parts.len() } else { parts.len() - 1 };
        let mut end = 0;
        for (i, part) in parts.iter().take(dir_parts).enumerate() {
            end += part.len() + usize::from(i > 0);
            let prefix = &path[..end];
            if self.files.contains(prefix) {
                return Err(BundleError::DuplicateEntry(prefix.to_string()));
            }
            if !self.dirs.contains(prefix) {
                self.count_entry()?;
                if !self.folded.insert(prefix.to_lowercase()) {
                    return Err(BundleError::CaseCollision(prefix.to_string()));
                }
                self.dirs.insert(prefix.to_string());
            }
        }
        if !is_dir {
            if self.dirs.contains(path) || !self.files.insert(path.to_string()) {
                return Err(BundleError::DuplicateEntry(path.to_string()));
            }
            if !self.folded.insert(path.to_lowercase()) {
                return Err(BundleError::CaseCollision(path.to_string()));
            }
            self.count_entry()?;
        }
        Ok(())
    }

    /// Copies at most the per-entry cap (and what is left of the total) from
    /// `src` into `dst`, counting the bytes really written, whatever the
    /// archive declared.
    fn copy(
        &mut self,
        name: &str,
        src: &mut dyn Read,
        dst: &mut dyn io::Write,
    ) -> Result<(), BundleError> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut written: u64 = 0;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BundleError::Corrupt(format!("entry '{name}': {e}"))),
            };
            written += n as u64;
            self.total += n as u64;
            if written > self.limits.max_entry_bytes {
                return Err(BundleError::EntryTooLarge(
                    name.to_string(),
                    self.limits.max_entry_bytes,
                ));
            }
            if self.total > self.limits.max_total_bytes {
                return Err(BundleError::TooLarge(self.limits.max_total_bytes));
            }
            dst.write_all(&buf[..n])
                .map_err(|e| BundleError::Io(format!("writing '{name}'"), e))?;
        }
        Ok(())
    }
}

/// Longest entry name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// Deepest entry path accepted, in components.
pub const MAX_DEPTH: usize = 48;

/// Turns an entry name into a safe relative path (`a/b/c`), or says why not.
/// Rejects absolute names, drive letters, `..`, NUL and control characters;
/// backslashes count as separators (zips made on Windows).
pub fn sanitize_entry_name(raw: &str) -> Result<Option<String>, BundleError> {
    let bad = |why: &str| {
        Err(BundleError::UnsafeEntry(
            raw.escape_debug().to_string(),
            why.to_string(),
        ))
    };
    if raw.len() > MAX_NAME_BYTES {
        return Err(BundleError::UnsafeEntry(
            format!(
                "{}...",
                raw.chars().take(64).collect::<String>().escape_debug()
            ),
            format!("it is longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if raw.chars().any(|c| c.is_control()) {
        return bad("it contains a NUL or control character");
    }
    if raw.starts_with('/') || raw.starts_with('\\') {
        return bad("it is an absolute path");
    }
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return bad("it starts with a drive letter");
    }
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return bad("it contains a '..' component"),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    if parts.len() > MAX_DEPTH {
        return bad(&format!("it is nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(Some(parts.join("/")))
}

/// Unpacks a zip file into `dest` (an empty directory).
pub fn unpack_zip(zip_path: &Path, dest: &Path, limits: ExtractLimits) -> Result<(), BundleError> {
    let file = File::open(zip_path)
        .map_err(|e| BundleError::Io(format!("opening {}", zip_path.display()), e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| BundleError::Corrupt(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(BundleError::TooManyEntries(limits.max_entries));
    }
    // The zip crate indexes entries by name, silently keeping one of two
    // entries with the same name; count the central directory's records
    // ourselves so that duplicates are refused, not hidden.
    let raw_names = central_directory_names(
        zip_path,
        archive.central_directory_start(),
        limits.max_entries,
    )?;
    if raw_names.len() > limits.max_entries {
        return Err(BundleError::TooManyEntries(limits.max_entries));
    }
    let mut seen = HashSet::new();
    for n in &raw_names {
        if !seen.insert(n.as_slice()) {
            return Err(BundleError::DuplicateEntry(
                String::from_utf8_lossy(n).into_owned(),
            ));
        }
    }
    let root = Dir::open_ambient_dir(dest, ambient_authority())
        .map_err(|e| BundleError::Io(format!("opening {}", dest.display()), e))?;
    let mut budget = Budget::new(limits);
    for i in 0..archive.len() {
        // Inspect the entry without decompressing it first.
        let (name, is_dir, is_link, encrypted, declared, executable) = {
            let raw = archive
                .by_index_raw(i)
                .map_err(|e| BundleError::Corrupt(format!("entry #{i}: {e}")))?;
            let mode = raw.unix_mode().unwrap_or(0);
            let is_link = mode & 0o170000 == 0o120000;
            (
                raw.name().to_string(),
                raw.is_dir(),
                is_link,
                raw.encrypted(),
                raw.size(),
                mode & 0o111 != 0,
            )
        };
        if encrypted {
            return Err(BundleError::Encrypted(name));
        }
        if is_link {
            return Err(BundleError::Symlink(name));
        }
        let Some(path) = sanitize_entry_name(&name)? else {
            continue;
        };
        budget.claim(&path, is_dir)?;
        if is_dir {
            root.create_dir_all(&path)
                .map_err(|e| BundleError::Io(format!("creating '{path}'"), e))?;
            continue;
        }
        if declared > limits.max_entry_bytes {
            return Err(BundleError::EntryTooLarge(path, limits.max_entry_bytes));
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            root.create_dir_all(parent)
                .map_err(|e| BundleError::Io(format!("creating '{parent}'"), e))?;
        }
        let mut entry = archive.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(m) if m.contains("assword") => {
                BundleError::Encrypted(name.clone())
            }
            other => BundleError::Corrupt(format!("entry '{name}': {other}")),
        })?;
        let mut out = root
            .create(&path)
            .map_err(|e| BundleError::Io(format!("creating '{path}'"), e))?;
        budget.copy(&path, &mut entry, &mut out)?;
        keep_exec_bit(&out, &path, executable)?;
    }
    Ok(())
}

/// Reads the raw names of the central directory's records, at most
/// `max + 1` of them.
fn central_directory_names(
    zip_path: &Path,
    start: u64,
    max: usize,
) -> Result<Vec<Vec<u8>>, BundleError> {
    use std::io::{BufReader, Seek, SeekFrom};
    let corrupt = |e: io::Error| BundleError::Corrupt(format!("central directory: {e}"));
    let mut r = BufReader::new(File::open(zip_path).map_err(corrupt)?);
    r.seek(SeekFrom::Start(start)).map_err(corrupt)?;
    let mut names = Vec::new();
    let mut header = [0u8; 46];
    while names.len() <= max {
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(corrupt(e)),
        }
        if header[..4] != *b"PK\x01\x02" {
            break;
        }
        let u16_at = |i: usize| u16::from_le_bytes([header[i], header[i + 1]]) as usize;
        let (name_len, extra_len, comment_len) = (u16_at(28), u16_at(30), u16_at(32));
        let mut name = vec![0u8; name_len];
        r.read_exact(&mut name).map_err(corrupt)?;
        r.seek_relative((extra_len + comment_len) as i64)
            .map_err(corrupt)?;
        names.push(name);
    }
    Ok(names)
}

/// Copies a directory tree into `dest` under the same rules as a zip:
/// no symlinks or special files, safe names, the same caps. The source is
/// read through `cap_std` directory handles, so even a tree changed while
/// it is copied cannot lead the copy outside it, and files are opened with
/// `O_NOFOLLOW | O_NONBLOCK` and checked after opening (no symlink, FIFO or
/// device is ever read).
pub fn copy_dir(src: &Path, dest: &Path, limits: ExtractLimits) -> Result<(), BundleError> {
    let root = Dir::open_ambient_dir(dest, ambient_authority())
        .map_err(|e| BundleError::Io(format!("opening {}", dest.display()), e))?;
    let source = Dir::open_ambient_dir(src, ambient_authority())
        .map_err(|e| BundleError::Io(format!("opening {}", src.display()), e))?;
    let mut budget = Budget::new(limits);
    walk(&source, "", &root, &mut budget)
}

fn walk(dir: &Dir, rel: &str, root: &Dir, budget: &mut Budget) -> Result<(), BundleError> {
    use cap_std::fs::OpenOptionsExt;
    let shown = if rel.is_empty() { "." } else { rel };
    let read_err = |e| BundleError::Io(format!("reading '{shown}'"), e);
    let mut entries: Vec<_> = dir
        .entries()
        .map_err(read_err)?
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let os_name = entry.file_name();
        let name = os_name.to_str().ok_or_else(|| {
            BundleError::UnsafeEntry(
                os_name.to_string_lossy().into_owned(),
                "it is not valid UTF-8".into(),
            )
        })?;
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let Some(path) = sanitize_entry_name(&path)? else {
            continue;
        };
        let ft = entry
            .file_type()
            .map_err(|e| BundleError::Io(format!("reading '{path}'"), e))?;
        if ft.is_symlink() {
            return Err(BundleError::Symlink(path));
        } else if ft.is_dir() {
            budget.claim(&path, true)?;
            root.create_dir_all(&path)
                .map_err(|e| BundleError::Io(format!("creating '{path}'"), e))?;
            let sub = dir
                .open_dir(name)
                .map_err(|e| BundleError::Io(format!("opening '{path}'"), e))?;
            walk(&sub, &path, root, budget)?;
        } else if ft.is_file() {
            budget.claim(&path, false)?;
            let mut opts = cap_std::fs::OpenOptions::new();
            opts.read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
            let mut input = dir.open_with(name, &opts).map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    BundleError::Symlink(path.clone())
                } else {
                    BundleError::Io(format!("opening '{path}'"), e)
                }
            })?;
            let meta = input
                .metadata()
                .map_err(|e| BundleError::Io(format!("reading '{path}'"), e))?;
            if !meta.is_file() {
                return Err(BundleError::UnsafeEntry(
                    path,
                    "it is not a regular file or directory".into(),
                ));
            }
            if meta.len() > budget.limits.max_entry_bytes {
                return Err(BundleError::EntryTooLarge(
                    path,
                    budget.limits.max_entry_bytes,
                ));
            }
            let mut out = root
                .create(&path)
                .map_err(|e| BundleError::Io(format!("creating '{path}'"), e))?;
            budget.copy(&path, &mut input, &mut out)?;
            use cap_std::fs::PermissionsExt as _;
            keep_exec_bit(&out, &path, meta.permissions().mode() & 0o111 != 0)?;
        } else {
            return Err(BundleError::UnsafeEntry(
                path,
                "it is not a regular file or directory".into(),
            ));
        }
    }
    Ok(())
}

/// Marks an unpacked file executable (0755) when its source was: native
/// executables need the bit. Nothing more is carried over (no setuid or
/// setgid bits, no odd modes).
fn keep_exec_bit(out: &cap_std::fs::File, path: &str, executable: bool) -> Result<(), BundleError> {
    if !executable {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt;
    out.set_permissions(cap_std::fs::Permissions::from_std(
        std::fs::Permissions::from_mode(0o755),
    ))
    .map_err(|e| BundleError::Io(format!("setting the mode of '{path}'"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(
            sanitize_entry_name("a/./b//c.js").unwrap().unwrap(),
            "a/b/c.js"
        );
        assert_eq!(
            sanitize_entry_name("dir\\run.js").unwrap().unwrap(),
            "dir/run.js"
        );
        assert_eq!(sanitize_entry_name("./").unwrap(), None);
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\x",
            "C:x",
            "a\0b",
            "a\nb",
            "..\\x",
            "a/..",
        ] {
            assert!(sanitize_entry_name(bad).is_err(), "{bad:?}");
        }
        // `..././x` is a plain (odd) name, not an escape: no stripping games.
        assert_eq!(sanitize_entry_name(".../x").unwrap().unwrap(), ".../x");
    }

    #[test]
    fn copy_counts_actual_bytes_not_declared_ones() {
        let mut b = Budget::new(ExtractLimits {
            max_total_bytes: 10 << 20,
            max_entry_bytes: 1 << 20,
            max_entries: 10,
        });
        let mut liar = std::io::repeat(b'a').take(2 << 20);
        let err = b
            .copy("liar.txt", &mut liar, &mut std::io::sink())
            .unwrap_err();
        assert!(
            matches!(err, BundleError::EntryTooLarge(_, 1048576)),
            "{err}"
        );
        let mut b = Budget::new(ExtractLimits {
            max_total_bytes: 1 << 20,
            max_entry_bytes: 1 << 20,
            max_entries: 10,
        });
        b.copy(
            "a",
            &mut std::io::repeat(1).take(1 << 19),
            &mut std::io::sink(),
        )
        .unwrap();
        b.copy(
            "b",
            &mut std::io::repeat(1).take(1 << 19),
            &mut std::io::sink(),
        )
        .unwrap();
        let err = b
            .copy(
                "c",
                &mut std::io::repeat(1).take(1 << 19),
                &mut std::io::sink(),
            )
            .unwrap_err();
        assert!(matches!(err, BundleError::TooLarge(_)), "{err}");
    }

    #[test]
    fn deep_and_long_names_are_bounded() {
        let deep = vec!["a"; MAX_DEPTH + 1].join("/");
        assert!(sanitize_entry_name(&deep).is_err());
        assert!(sanitize_entry_name(&"x".repeat(MAX_NAME_BYTES + 1)).is_err());
        // Implied folders count as entries.
        let mut b = Budget::new(ExtractLimits {
            max_entries: 5,
            ..ExtractLimits::default()
        });
        let path = ["d"; 10].join("/") + "/f";
        assert!(matches!(
            b.claim(&path, false),
            Err(BundleError::TooManyEntries(5))
        ));
    }

    #[test]
    fn collisions() {
        let mut b = Budget::new(ExtractLimits::default());
        b.claim("a/run.js", false).unwrap();
        assert!(matches!(
            b.claim("a/run.js", false),
            Err(BundleError::DuplicateEntry(_))
        ));
        assert!(matches!(
            b.claim("A/x", false),
            Err(BundleError::CaseCollision(_))
        ));
        assert!(matches!(
            b.claim("a/RUN.js", false),
            Err(BundleError::CaseCollision(_))
        ));
        assert!(matches!(
            b.claim("a/run.js/x", false),
            Err(BundleError::DuplicateEntry(_))
        ));
        b.claim("a", true).unwrap();
    }
}
