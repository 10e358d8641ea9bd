//! The pieces of a run, each alone: instantiating a cached guest
//! (pooling allocator, copy-on-write memory image, pre-linked), capturing
//! a guest's stdout into `output_log.txt` (MB/s), and finding the next
//! occurrence of an NCRONTAB schedule. Whole runs are `run_start` and
//! `wasmjobs bench`.

use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wasmjobs::runtime::Guest;
use wasmjobs::runtime::capture::{self, OutputLog};
use wasmjobs::runtime::wasm::WasmRuntime;
use wasmjobs::schedule::cron::Cron;

fn instantiate(c: &mut Criterion) {
    let cache = wasmjobs::config::default_cache_dir()
        .unwrap()
        .join("modules");
    let wasm = WasmRuntime::new(cache, 4, 4 << 30);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("instantiate");
    for guest in [Guest::Js, Guest::Python] {
        if let Err(e) = guest.files() {
            eprintln!("SKIPPED instantiate/{}: {e:#}", guest.id());
            continue;
        }
        rt.block_on(wasm.instantiate_only(guest)).unwrap(); // load or compile once
        g.bench_function(guest.id(), |b| {
            b.iter(|| rt.block_on(wasm.instantiate_only(guest)).unwrap())
        });
    }
    g.finish();
}

fn capture_throughput(c: &mut Criterion) {
    const LINE: &[u8] =
        b"a line of job output, as a job would print it, about eighty bytes long .......\n";
    const LINES: usize = 64 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("capture");
    g.throughput(Throughput::Bytes((LINE.len() * LINES) as u64));
    g.sample_size(20);
    let chunk = LINE.repeat(512);
    g.bench_function("stdout_to_output_log", |b| {
        b.iter(|| {
            let path = dir.path().join("output_log.txt");
            let _ = std::fs::remove_file(&path);
            let log = OutputLog::open(&path, "bench0", u64::MAX / 2, None).unwrap();
            let pipes = capture::pipes(&log).unwrap();
            let mut out = pipes.stdout;
            for _ in 0..LINES / 512 {
                out.write_all(&chunk).unwrap();
            }
            drop(out);
            drop(pipes.stderr);
            pipes.drain.wait();
            log.finish();
        })
    });
    g.finish();
}

fn ncrontab_next(c: &mut Criterion) {
    let from = jiff::civil::date(2026, 11, 26).at(16, 48, 33, 0);
    let mut g = c.benchmark_group("ncrontab_next");
    for (label, expr) in [
        ("every_second", "* * * * * *"),
        ("weekdays_0930", "0 30 9 * * 1-5"),
        ("every_15s_business_hours", "*/15 * 9-17 * * Mon-Fri"),
        ("leap_day", "0 0 0 29 2 *"),
    ] {
        let cron: Cron = expr.parse().unwrap();
        g.bench_function(label, |b| {
            b.iter(|| cron.next_after(std::hint::black_box(from)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3));
    targets = instantiate, capture_throughput, ncrontab_next
}
criterion_main!(benches);
