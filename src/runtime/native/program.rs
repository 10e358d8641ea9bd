//! What runs a script natively: WebJobs' script hosts on Linux (`.sh` with
//! `/bin/bash`, `.php` with `php`, `.py` with `python3`, `.js` with `node`,
//! `.ps1` with `pwsh`), `.jar` with `java -jar`, and ELF executables run
//! directly. Interpreters are looked up at fixed system paths (never the
//! host's `PATH`), so they are where the sandbox lets a job read.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::bundle::entry::ScriptKind;
use crate::runtime::confine;

/// A native script host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpreter {
    /// `/bin/bash script args` (`.sh`).
    Bash,
    /// `php script args` (`.php`).
    Php,
    /// `java <memory flags> -jar script args` (`.jar`).
    Java,
    /// `python3 script args` (`.py`, when run natively).
    Python,
    /// `node script args` (`.js`, when run natively).
    Node,
    /// `pwsh -File script args` (`.ps1`, where PowerShell is installed).
    Pwsh,
    /// The script is an ELF executable (`.exe` or an extensionless `run`).
    Direct,
}

impl Interpreter {
    /// The native host for a script kind (`.cmd` and `.bat` have none).
    pub fn for_kind(kind: ScriptKind) -> Option<Interpreter> {
        Some(match kind {
            ScriptKind::Sh => Interpreter::Bash,
            ScriptKind::Php => Interpreter::Php,
            ScriptKind::Jar => Interpreter::Java,
            ScriptKind::Py => Interpreter::Python,
            ScriptKind::Js => Interpreter::Node,
            ScriptKind::Ps1 => Interpreter::Pwsh,
            ScriptKind::Exe => Interpreter::Direct,
            ScriptKind::Cmd | ScriptKind::Bat => return None,
        })
    }

    /// The script host name in the log's `Run script` line (Kudu's names).
    pub fn host_name(self) -> &'static str {
        match self {
            Interpreter::Bash => "BashScriptHost",
            Interpreter::Php => "PhpScriptHost",
            Interpreter::Java => "JavaScriptHost (java -jar)",
            Interpreter::Python => "PythonScriptHost",
            Interpreter::Node => "NodeScriptHost",
            Interpreter::Pwsh => "PowerShellScriptHost",
            Interpreter::Direct => "NativeExecutableHost",
        }
    }

    fn candidates(self) -> &'static [&'static str] {
        match self {
            Interpreter::Bash => &["/bin/bash", "/usr/bin/bash"],
            Interpreter::Php => &["/usr/bin/php", "/usr/local/bin/php"],
            Interpreter::Java => &["/usr/bin/java"],
            Interpreter::Python => &["/usr/bin/python3"],
            Interpreter::Node => &["/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"],
            Interpreter::Pwsh => &["/usr/bin/pwsh", "/opt/microsoft/powershell/7/pwsh"],
            Interpreter::Direct => &[],
        }
    }

    /// The Debian package that provides it.
    pub fn package(self) -> &'static str {
        match self {
            Interpreter::Bash => "bash",
            Interpreter::Php => "php-cli",
            Interpreter::Java => "default-jre-headless",
            Interpreter::Python => "python3",
            Interpreter::Node => "nodejs",
            Interpreter::Pwsh => "powershell (Microsoft's repository)",
            Interpreter::Direct => "",
        }
    }

    /// The interpreter's real path (symlinks such as `/etc/alternatives`
    /// resolved), or an error naming the package to install.
    pub fn locate(self) -> Result<Option<PathBuf>, String> {
        if self == Interpreter::Direct {
            return Ok(None);
        }
        for c in self.candidates() {
            if let Ok(p) = std::fs::canonicalize(c)
                && is_executable(&p)
            {
                return Ok(Some(p));
            }
        }
        Err(format!(
            "{} is not installed on this host (install the '{}' package)",
            self.candidates()[0],
            self.package()
        ))
    }

    /// Folders outside the default read list the interpreter needs (the
    /// JVM's home, found from its real path).
    pub fn extra_read(self, exe: &Path) -> Vec<PathBuf> {
        match self {
            // /usr/lib/jvm/<jdk>/bin/java -> /usr/lib/jvm/<jdk> is under
            // /usr already; its /etc config is on the default list.
            Interpreter::Java | Interpreter::Pwsh => exe
                .parent()
                .and_then(Path::parent)
                .filter(|p| !p.starts_with("/usr"))
                .map(|p| vec![p.to_path_buf()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The program and its arguments for `script` (as the job sees it),
    /// sized for `memory_mb` where the runtime needs telling, with
    /// `runtime_args` for the runtime itself (a JVM's system properties).
    pub fn command(
        self,
        exe: Option<&Path>,
        script: &Path,
        args: &[String],
        memory_mb: u64,
        runtime_args: &[String],
    ) -> (PathBuf, Vec<OsString>) {
        let mut argv: Vec<OsString> = Vec::new();
        let program = match (self, exe) {
            (Interpreter::Direct, _) | (_, None) => script.to_path_buf(),
            (_, Some(exe)) => exe.to_path_buf(),
        };
        match self {
            Interpreter::Java => {
                let heap = (memory_mb / 2).max(16);
                argv.extend(
                    [
                        format!("-Xmx{heap}m"),
                        "-Xss1m".into(),
                        "-XX:ReservedCodeCacheSize=32m".into(),
                        "-XX:CompressedClassSpaceSize=64m".into(),
                        "-XX:MaxMetaspaceSize=128m".into(),
                        "-XX:+UseSerialGC".into(),
                        "-XX:-UsePerfData".into(),
                        "-XX:TieredStopAtLevel=1".into(),
                        "-Djava.io.tmpdir=/tmp".into(),
                        // A JVM crash report lands in the run's own /tmp,
                        // never in the host's working directory.
                        "-XX:ErrorFile=/tmp/hs_err_pid%p.log".into(),
                    ]
                    .map(OsString::from),
                );
                argv.extend(runtime_args.iter().map(OsString::from));
                argv.push("-jar".into());
            }
            Interpreter::Node => {
                argv.push(format!("--max-old-space-size={}", (memory_mb / 2).max(16)).into());
                if self.jitless() {
                    argv.push("--jitless".into());
                }
            }
            Interpreter::Pwsh => argv.extend(["-NoProfile", "-File"].map(OsString::from)),
            _ => {}
        }
        if self != Interpreter::Direct {
            argv.push(script.as_os_str().to_owned());
        }
        argv.extend(args.iter().map(OsString::from));
        (program, argv)
    }

    /// Whether it runs without its JIT on this host: `node --jitless`
    /// where the host denies executable memory (V8 aborts otherwise).
    pub fn jitless(self) -> bool {
        self == Interpreter::Node && confine::exec_memory().is_err()
    }

    /// What a run's log says about [`Interpreter::jitless`].
    pub fn jit_note(self) -> Option<String> {
        self.jitless().then(|| {
            format!(
                "node runs with --jitless (V8's interpreter only, slower): {}",
                confine::NO_EXEC_MEMORY
            )
        })
    }

    /// Why it cannot run on this host at all: the JVM, whose interpreter
    /// too is generated code, where executable memory is denied.
    pub fn unrunnable(self) -> Option<String> {
        (self == Interpreter::Java && confine::exec_memory().is_err()).then(|| {
            format!(
                "the JVM needs executable memory and {}; allow it for wasmjobs to run .jar jobs",
                confine::NO_EXEC_MEMORY
            )
        })
    }

    /// The address-space cap for a memory limit: the limit itself, plus
    /// the virtual reservations of runtimes that map far more than they
    /// use (the JVM, V8, .NET). Their real use is held by the heap flags
    /// and the cgroup.
    pub fn address_space_mb(self, memory_mb: u64) -> u64 {
        match self {
            Interpreter::Java => memory_mb + 768,
            Interpreter::Node => memory_mb + 1024,
            Interpreter::Pwsh => memory_mb + 4096,
            _ => memory_mb,
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_gets_sized_heap_and_jar() {
        let (p, argv) = Interpreter::Java.command(
            Some(Path::new("/usr/bin/java")),
            Path::new("/home/job/run.jar"),
            &["a".into()],
            256,
            &["-Dhttp.proxyPort=3128".into()],
        );
        assert_eq!(p, Path::new("/usr/bin/java"));
        assert_eq!(argv[0], "-Xmx128m");
        let n = argv.len();
        // The runtime's own arguments go before the jar.
        assert_eq!(argv[n - 4], "-Dhttp.proxyPort=3128");
        assert_eq!(argv[n - 3], "-jar");
        assert_eq!(argv[n - 2], "/home/job/run.jar");
        assert_eq!(argv[n - 1], "a");
    }

    #[test]
    fn direct_runs_the_script() {
        let (p, argv) = Interpreter::Direct.command(
            None,
            Path::new("/home/job/run.exe"),
            &["x".into()],
            64,
            &[],
        );
        assert_eq!(p, Path::new("/home/job/run.exe"));
        assert_eq!(argv, vec![OsString::from("x")]);
    }
}
