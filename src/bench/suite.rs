//! The standard suite: a hello world and the same CPU-bound loop in every
//! language wasmjobs runs (JavaScript and Python, which have guests; bash,
//! PHP, Java and a C executable, which run natively), and network jobs
//! allowed the bench's loopback server (100 sequential 1 KiB GETs, one
//! 10 MiB download): in JavaScript with `fetch`, and in bash with curl
//! when curl is installed. The sources are
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

/// The suite's scripts, `(name, text)`: each runs as `run.<its extension>`.
const SCRIPTS: &[(&str, &str)] = &[
    ("hello.js", include_str!("suite/hello.js")),
    ("loop.js", include_str!("suite/loop.js")),
    ("hello.py", include_str!("suite/hello.py")),
    ("loop.py", include_str!("suite/loop.py")),
    ("hello.sh", include_str!("suite/hello.sh")),
    ("loop.sh", include_str!("suite/loop.sh")),
    ("hello.php", include_str!("suite/hello.php")),
    ("loop.php", include_str!("suite/loop.php")),
];

/// The JavaScript network jobs, `(name, text)`: each fetches from `BASE`.
const NETWORK_JS: &[(&str, &str)] = &[
    ("net-get.js", include_str!("suite/net-get.js")),
    ("net-download.js", include_str!("suite/net-download.js")),
];

/// The bash network jobs, `(name, text)`: each fetches from `$URL`.
const NETWORK: &[(&str, &str)] = &[
    ("net-get.sh", include_str!("suite/net-get.sh")),
    ("net-download.sh", include_str!("suite/net-download.sh")),
];

/// Writes the suite's jobs under `dir` (the network jobs fetch from a
/// server on 127.0.0.1:`server_port`). Returns them, and a line for each
/// one that could not be built here.
pub fn standard(dir: &Path, server_port: u16) -> Result<(Vec<SuiteJob>, Vec<String>)> {
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    let folder = |name: &str| -> Result<PathBuf> {
        let d = dir.join(name.replace('.', "-"));
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    };
    for (name, text) in SCRIPTS {
        let d = folder(name)?;
        let ext = name.rsplit('.').next().unwrap_or_default();
        std::fs::write(d.join(format!("run.{ext}")), text)?;
        jobs.push(SuiteJob {
            name: (*name).into(),
            dir: d,
        });
    }
    // The network jobs: the server's URL first, and allowed that only.
    let url = format!("http://127.0.0.1:{server_port}");
    let settings = format!("{{\"network\": [\"{url}\"]}}\n");
    let mut network = |list: &[(&str, &str)], entry: &str, first: String| -> Result<()> {
        for (name, text) in list {
            let d = folder(name)?;
            std::fs::write(d.join(entry), format!("{first}\n{text}"))?;
            std::fs::write(d.join("settings.job"), &settings)?;
            jobs.push(SuiteJob {
                name: (*name).into(),
                dir: d,
            });
        }
        Ok(())
    };
    network(NETWORK_JS, "run.js", format!("const BASE = '{url}';"))?;
    if Path::new("/usr/bin/curl").exists() {
        network(NETWORK, "run.sh", format!("URL={url}"))?;
    } else {
        skipped.extend(
            NETWORK
                .iter()
                .map(|(n, _)| format!("{n}: `curl` is not installed (apt-get install curl)")),
        );
    }
    // Compiled here, when the compilers are installed.
    type Build = fn(&Path) -> Result<()>;
    let built: &[(&str, Build)] = &[
        ("hello.jar", |d| {
            build_jar(d, "Hello", include_str!("suite/Hello.java"))
        }),
        ("loop.jar", |d| {
            build_jar(d, "Loop", include_str!("suite/Loop.java"))
        }),
        ("hello.exe", |d| build_exe(d, include_str!("suite/hello.c"))),
        ("loop.exe", |d| build_exe(d, include_str!("suite/loop.c"))),
    ];
    for (name, build) in built {
        let d = folder(name)?;
        match build(&d) {
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
