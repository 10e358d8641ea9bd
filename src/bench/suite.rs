//! The standard suite: a hello world and the same CPU-bound loop in every
//! language wasmjobs runs (JavaScript and Python, which have guests; bash,
//! PHP, Java and a C executable, which run natively). The sources are
//! embedded in the binary; the `.jar` and the executable are compiled into
//! the bench's scratch folder when `javac` and `cc` are installed, and
//! skipped, with the reason, when they are not.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A job folder to benchmark.
#[derive(Debug, Clone)]
pub struct SuiteJob {
    /// Its name in the report (`hello.js`, `loop.py`, ...).
    pub name: String,
    /// The folder holding its `run.*` entry.
    pub dir: PathBuf,
}

/// One source of the suite: its report name, entry file and text.
struct Source {
    name: &'static str,
    entry: &'static str,
    text: &'static str,
}

const SCRIPTS: &[Source] = &[
    Source {
        name: "hello.js",
        entry: "run.js",
        text: include_str!("suite/hello.js"),
    },
    Source {
        name: "loop.js",
        entry: "run.js",
        text: include_str!("suite/loop.js"),
    },
    Source {
        name: "hello.py",
        entry: "run.py",
        text: include_str!("suite/hello.py"),
    },
    Source {
        name: "loop.py",
        entry: "run.py",
        text: include_str!("suite/loop.py"),
    },
    Source {
        name: "hello.sh",
        entry: "run.sh",
        text: include_str!("suite/hello.sh"),
    },
    Source {
        name: "loop.sh",
        entry: "run.sh",
        text: include_str!("suite/loop.sh"),
    },
    Source {
        name: "hello.php",
        entry: "run.php",
        text: include_str!("suite/hello.php"),
    },
    Source {
        name: "loop.php",
        entry: "run.php",
        text: include_str!("suite/loop.php"),
    },
];

const JAVA: &[(&str, &str, &str)] = &[
    ("hello.jar", "Hello", include_str!("suite/Hello.java")),
    ("loop.jar", "Loop", include_str!("suite/Loop.java")),
];

const C: &[(&str, &str)] = &[
    ("hello.exe", include_str!("suite/hello.c")),
    ("loop.exe", include_str!("suite/loop.c")),
];

/// Writes the suite's jobs under `dir`. Returns them, and a line for each
/// one that could not be built here.
pub fn standard(dir: &Path) -> Result<(Vec<SuiteJob>, Vec<String>)> {
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    let folder = |name: &str| -> Result<PathBuf> {
        let d = dir.join(name.replace('.', "-"));
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    };
    for s in SCRIPTS {
        let d = folder(s.name)?;
        std::fs::write(d.join(s.entry), s.text)?;
        jobs.push(SuiteJob {
            name: s.name.into(),
            dir: d,
        });
    }
    for (name, class, text) in JAVA {
        let d = folder(name)?;
        match build_jar(&d, class, text) {
            Ok(()) => jobs.push(SuiteJob {
                name: (*name).into(),
                dir: d,
            }),
            Err(e) => skipped.push(format!("{name}: {e:#}")),
        }
    }
    for (name, text) in C {
        let d = folder(name)?;
        match build_exe(&d, text) {
            Ok(()) => jobs.push(SuiteJob {
                name: (*name).into(),
                dir: d,
            }),
            Err(e) => skipped.push(format!("{name}: {e:#}")),
        }
    }
    Ok((jobs, skipped))
}

/// Compiles `class` into `dir/run.jar` (its sources and classes go to a
/// `build` folder beside it, outside the job).
fn build_jar(dir: &Path, class: &str, text: &str) -> Result<()> {
    let build = dir.with_extension("build");
    std::fs::create_dir_all(build.join("classes"))?;
    let src = build.join(format!("{class}.java"));
    std::fs::write(&src, text)?;
    let mut javac = Command::new("javac");
    javac.arg("-d").arg(build.join("classes")).arg(&src);
    tool(javac, "javac", "default-jdk-headless")?;
    let mut jar = Command::new("jar");
    jar.args(["--create", "--file"])
        .arg(dir.join("run.jar"))
        .args(["--main-class", class, "-C"])
        .arg(build.join("classes"))
        .arg(".");
    tool(jar, "jar", "default-jdk-headless")
}

/// Compiles a C program into `dir/run.exe` (an ELF executable, as WebJobs'
/// `run.exe` maps to on Linux).
fn build_exe(dir: &Path, text: &str) -> Result<()> {
    let build = dir.with_extension("build");
    std::fs::create_dir_all(&build)?;
    let src = build.join("main.c");
    std::fs::write(&src, text)?;
    let mut cc = Command::new("cc");
    cc.args(["-O2", "-o"]).arg(dir.join("run.exe")).arg(&src);
    tool(cc, "cc", "build-essential")
}

/// Runs a build tool, naming the package to install when it is missing.
fn tool(mut cmd: Command, name: &str, package: &str) -> Result<()> {
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("`{name}` is not installed (apt-get install {package})")
        }
        Err(e) => return Err(e).with_context(|| format!("running {name}")),
    };
    if !out.status.success() {
        bail!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
