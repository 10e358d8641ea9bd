//! The interpreter guests built into this binary.

use sha2::{Digest, Sha256};

/// QuickJS-NG built for wasm32-wasip1 by `guests/js/build.sh` (via build.rs).
static JS_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wasmjobs-js.wasm"));

/// A WebAssembly interpreter guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guest {
    /// QuickJS-NG, for `.js`.
    Js,
}

impl Guest {
    /// Every guest.
    pub const ALL: [Guest; 1] = [Guest::Js];

    /// Short identifier, used in cache file names.
    pub fn id(self) -> &'static str {
        match self {
            Guest::Js => "js",
        }
    }

    /// The script host name shown in run logs.
    pub fn host_name(self) -> &'static str {
        match self {
            Guest::Js => "QuickJS-NG (wasm32-wasip1)",
        }
    }

    /// The guest's WebAssembly bytes.
    pub fn wasm(self) -> &'static [u8] {
        match self {
            Guest::Js => JS_GUEST,
        }
    }

    /// SHA-256 of the guest's bytes, hex.
    pub fn hash(self) -> String {
        hex::encode(Sha256::digest(self.wasm()))
    }
}
