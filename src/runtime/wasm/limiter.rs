//! The store's resource limiter: caps linear memory, tables and instances,
//! and remembers whether the memory cap was hit so the run can be reported
//! as ended by it.

use wasmtime::ResourceLimiter;

/// Limits one guest instance.
#[derive(Debug)]
pub struct JobLimiter {
    memory_max: usize,
    table_elements_max: usize,
    /// Set when a `memory.grow` was refused by the cap.
    pub memory_hit: bool,
    /// The largest linear memory granted, in bytes.
    pub memory_peak: usize,
}

impl JobLimiter {
    /// A limiter allowing `memory_bytes` of linear memory.
    pub fn new(memory_bytes: usize) -> Self {
        JobLimiter {
            memory_max: memory_bytes,
            table_elements_max: 100_000,
            memory_hit: false,
            memory_peak: 0,
        }
    }
}

impl ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_max {
            self.memory_hit = true;
            return Ok(false);
        }
        self.memory_peak = self.memory_peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements_max)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}
