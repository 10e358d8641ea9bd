//! Builds the interpreter guests that the binary embeds.
//!
//! The JS guest is compiled by `guests/js/build.sh` (QuickJS-NG for
//! wasm32-wasip1 with Debian's clang-19 and wasi-libc), which caches its
//! result outside the clone keyed by the hash of its inputs, so this is a
//! copy on every build but the first. `WASMJOBS_JS_GUEST=/path/to.wasm`
//! uses a guest built elsewhere instead.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("wasmjobs-js.wasm");
    for p in [
        "guests/js/build.sh",
        "guests/js/main.c",
        "guests/js/node/prelude.js",
        "guests/js/node/net.js",
        "guests/js/source/Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-env-changed=WASMJOBS_JS_GUEST");
    println!("cargo:rerun-if-env-changed=WASMJOBS_CACHE_DIR");

    if let Some(prebuilt) = std::env::var_os("WASMJOBS_JS_GUEST") {
        std::fs::copy(&prebuilt, &out)
            .unwrap_or_else(|e| panic!("WASMJOBS_JS_GUEST={prebuilt:?}: {e}"));
        return;
    }
    let status = Command::new("bash")
        .arg("guests/js/build.sh")
        .arg(&out)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("running guests/js/build.sh");
    if !status.success() {
        panic!(
            "building the JS guest failed (guests/js/build.sh). Install its tools with \
             `scripts/setup.sh`, or run the README's commands, which do."
        );
    }
}
