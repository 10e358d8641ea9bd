//! Entry-script discovery, exactly as WebJobs' `FindCommandToRun`: the
//! `run.<ext>` file of the first script host in priority order, else the
//! first file of the first extension present; top-level files only,
//! case-insensitive.

use std::fmt;
use std::path::Path;

/// The kinds of script WebJobs knows, in its host priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptKind {
    /// `.cmd` (Windows command script).
    Cmd,
    /// `.bat` (Windows batch file).
    Bat,
    /// `.exe` (an executable).
    Exe,
    /// `.ps1` (PowerShell).
    Ps1,
    /// `.sh` (bash).
    Sh,
    /// `.py` (Python).
    Py,
    /// `.php` (PHP).
    Php,
    /// `.js` (JavaScript; WebJobs runs it with Node).
    Js,
    /// `.jar` (Java; listed by the WebJobs docs, not in Kudu's host table).
    Jar,
}

impl ScriptKind {
    /// Discovery order: `run.cmd > run.bat > run.exe > run.ps1 > run.sh >
    /// run.py > run.php > run.js > run.jar`.
    pub const PRIORITY: [ScriptKind; 9] = [
        ScriptKind::Cmd,
        ScriptKind::Bat,
        ScriptKind::Exe,
        ScriptKind::Ps1,
        ScriptKind::Sh,
        ScriptKind::Py,
        ScriptKind::Php,
        ScriptKind::Js,
        ScriptKind::Jar,
    ];

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ScriptKind::Cmd => "cmd",
            ScriptKind::Bat => "bat",
            ScriptKind::Exe => "exe",
            ScriptKind::Ps1 => "ps1",
            ScriptKind::Sh => "sh",
            ScriptKind::Py => "py",
            ScriptKind::Php => "php",
            ScriptKind::Js => "js",
            ScriptKind::Jar => "jar",
        }
    }

    /// The kind of a file name, by its extension (case-insensitive).
    pub fn of_file(name: &str) -> Option<ScriptKind> {
        let (_, ext) = name.rsplit_once('.')?;
        Self::PRIORITY
            .into_iter()
            .find(|k| k.extension().eq_ignore_ascii_case(ext))
    }
}

impl fmt::Display for ScriptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, ".{}", self.extension())
    }
}

/// WebJobs' message for a job without a runnable script.
pub const NO_RUNNABLE_SCRIPT: &str = "No runnable script file was found.";

/// Picks the entry script among top-level file names. `native_exe` says
/// whether an extensionless file is an ELF executable with its exec bit:
/// such a file counts as an `.exe` (`run` as `run.exe`), which is how
/// WebJobs' `.exe` maps to Linux. Where several files share the winning
/// extension and none is `run.<ext>`, the first in case-insensitive name
/// order wins (WebJobs uses file-system order, which is not stable; we
/// make it deterministic).
pub fn find_entry<'a>(
    file_names: impl IntoIterator<Item = &'a str>,
    native_exe: impl Fn(&str) -> bool,
) -> Option<(String, ScriptKind)> {
    let mut names: Vec<&str> = file_names.into_iter().collect();
    names.sort_by_key(|n| (n.to_ascii_lowercase(), n.to_string()));
    let kind_of = |n: &str| {
        ScriptKind::of_file(n)
            .or_else(|| (!n.contains('.') && native_exe(n)).then_some(ScriptKind::Exe))
    };
    let mut fallback = None;
    for kind in ScriptKind::PRIORITY {
        let mut of_kind = names.iter().filter(|n| kind_of(n) == Some(kind));
        let run_name = format!("run.{}", kind.extension());
        if let Some(run) = names.iter().find(|n| {
            n.eq_ignore_ascii_case(&run_name)
                || (kind == ScriptKind::Exe && **n == "run" && kind_of(n) == Some(kind))
        }) {
            return Some((run.to_string(), kind));
        }
        if fallback.is_none() {
            fallback = of_kind.next().map(|n| (n.to_string(), kind));
        }
    }
    fallback
}

/// Lists the top-level regular files of a script directory and picks the
/// entry script.
pub fn find_entry_in(dir: &Path) -> std::io::Result<Option<(String, ScriptKind)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file()
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    let native_exe = |n: &str| {
        let p = dir.join(n);
        std::fs::metadata(&p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
            && super::exe::sniff(&p).is_ok_and(|e| e == super::exe::Executable::Elf)
    };
    Ok(find_entry(names.iter().map(String::as_str), native_exe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(names: &[&str]) -> Option<String> {
        find_entry(names.iter().copied(), |n| n.starts_with("elf")).map(|(n, _)| n)
    }

    #[test]
    fn run_files_follow_host_priority() {
        assert_eq!(pick(&["run.js", "run.py"]).unwrap(), "run.py");
        assert_eq!(pick(&["run.php", "run.py"]).unwrap(), "run.py");
        assert_eq!(pick(&["run.js", "run.sh", "run.cmd"]).unwrap(), "run.cmd");
        assert_eq!(pick(&["RUN.JS", "readme.txt"]).unwrap(), "RUN.JS");
    }

    #[test]
    fn run_file_beats_earlier_fallback() {
        // a.sh is a fallback for .sh, but run.js is a run file: run.* wins.
        assert_eq!(pick(&["a.sh", "run.js"]).unwrap(), "run.js");
    }

    #[test]
    fn fallback_is_first_file_of_first_extension() {
        assert_eq!(pick(&["b.sh", "a.js"]).unwrap(), "b.sh");
        assert_eq!(pick(&["z.js", "b.js", "notes.md"]).unwrap(), "b.js");
    }

    #[test]
    fn jar_comes_after_js_and_elf_counts_as_exe() {
        assert_eq!(pick(&["run.jar", "run.js"]).unwrap(), "run.js");
        assert_eq!(pick(&["run.jar", "a.js"]).unwrap(), "run.jar");
        assert_eq!(pick(&["elfrun", "run.sh"]).unwrap(), "run.sh");
        assert_eq!(pick(&["elfbin", "a.sh"]).unwrap(), "elfbin");
        assert_eq!(pick(&["notelf", "a.jar"]).unwrap(), "a.jar");
    }

    #[test]
    fn nothing_runnable() {
        assert_eq!(pick(&["readme.md", "data.json", "settings.job"]), None);
        assert_eq!(pick(&[]), None);
    }
}
