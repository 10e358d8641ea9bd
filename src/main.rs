//! The `wasmjobs` binary.

fn main() -> std::process::ExitCode {
    wasmjobs::cli::main()
}
