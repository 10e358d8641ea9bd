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
}

impl ScriptKind {
    /// Discovery order: `run.cmd > run.bat > run.exe > run.ps1 > run.sh >
    /// run.py > run.php > run.js`.
    pub const PRIORITY: [ScriptKind; 8] = [
        ScriptKind::Cmd,
        ScriptKind::Bat,
        ScriptKind::Exe,
        ScriptKind::Ps1,
        ScriptKind::Sh,
        ScriptKind::Py,
        ScriptKind::Php,
        ScriptKind::Js,
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

/// Picks the entry script among top-level file names. Where several files
/// share the winning extension and none is `run.<ext>`, the first in
/// case-insensitive name order wins (WebJobs uses file-system order, which
/// is not stable; we make it deterministic).
pub fn find_entry<'a>(
    file_names: impl IntoIterator<Item = &'a str>,
) -> Option<(String, ScriptKind)> {
    let mut names: Vec<&str> = file_names.into_iter().collect();
    names.sort_by_key(|n| (n.to_ascii_lowercase(), n.to_string()));
    let mut fallback = None;
    for kind in ScriptKind::PRIORITY {
        let mut of_kind = names
            .iter()
            .filter(|n| ScriptKind::of_file(n) == Some(kind));
        if let Some(run) = names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&format!("run.{}", kind.extension())))
        {
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
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file()
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    Ok(find_entry(names.iter().map(String::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(names: &[&str]) -> Option<String> {
        find_entry(names.iter().copied()).map(|(n, _)| n)
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
    fn nothing_runnable() {
        assert_eq!(pick(&["readme.md", "data.json", "settings.job"]), None);
        assert_eq!(pick(&[]), None);
    }
}
