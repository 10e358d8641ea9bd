//! What `doctor` (and `serve` at its start) says about the WebAssembly
//! side of this host: whether it may make code, the address space it may
//! reserve and the memory plan that follows, whether the engine starts,
//! and where each guest comes from.

use std::fmt::Write as _;

use super::{Guest, WasmRuntime};
use crate::runtime::confine::{self, human};

/// A report of the WebAssembly side, one fact per line.
pub fn report(rt: &WasmRuntime) -> String {
    let mut r = String::from("WebAssembly guests:\n");
    let mut line = |name: &str, v: String| {
        let _ = writeln!(r, "  {name:<22}: {v}");
    };
    line(
        "executable memory",
        match confine::exec_memory() {
            Ok(()) => "yes".into(),
            Err(why) => format!("NO: {why}"),
        },
    );
    let sizing = rt.sizing();
    line(
        "address space",
        match sizing.space.limit {
            None => format!(
                "unlimited (ulimit -v); {} in use",
                human(sizing.space.in_use)
            ),
            Some(l) => format!(
                "{} (ulimit -v); {} in use",
                human(l),
                human(sizing.space.in_use)
            ),
        },
    );
    let engine = rt.usable(Guest::Js);
    // The probe may have replaced the plan (a pool that could not be
    // reserved after all): read it again.
    let sizing = rt.sizing();
    line(
        "wasm slots",
        format!(
            "{} (--wasm-slots); memory ceiling {} (--max-memory-mb)",
            sizing.slots,
            human(rt.ceiling)
        ),
    );
    let needs = sizing.plan.needs(sizing.slots);
    line(
        "memory plan",
        if needs > 0 {
            format!("{} reserving {}", sizing.plan, human(needs))
        } else {
            sizing.plan.to_string()
        },
    );
    if let Some(why) = &sizing.why {
        line("  why", why.clone());
    }
    line(
        "engine",
        match &engine {
            Ok(()) => "starts and compiles code here".into(),
            Err(u) => format!("CANNOT RUN: {} (fix: {})", u.why, u.fix),
        },
    );
    for g in [Guest::Js, Guest::Python] {
        let from = match g.files() {
            Ok(None) => "embedded in the binary".to_string(),
            Ok(Some(f)) => format!("from {}", f.dir.display()),
            Err(e) => format!("NOT INSTALLED: {e:#}"),
        };
        line(
            &format!("{} guest", g.id()),
            format!("{}, {from}", g.host_name()),
        );
    }
    r
}
