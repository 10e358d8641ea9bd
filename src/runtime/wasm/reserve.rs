//! How the engines reserve their guests' memory, sized from what this host
//! may reserve (`RLIMIT_AS`), the slot count (`--wasm-slots`) and the
//! largest memory a job may ask for (`--max-memory-mb`). Where address
//! space is plentiful (no `ulimit -v`), every slot is reserved up front at
//! 4 GiB plus a guard, which lets the compiled code skip bounds checks and
//! reset a slot in place. Where it is not, the slots shrink to the memory
//! ceiling, and where even that does not fit, each guest's memory is mapped
//! when it starts and as it grows (on-demand allocation): slower starts and
//! explicit bounds checks, but guests run.

use std::fmt;

use wasmtime::Config;

use super::engine::{MAX_MEMORY_BYTES, MAX_WASM_STACK};
use crate::runtime::confine::{AddressSpace, human};

/// Address space kept for the host's own threads and heap.
pub const HOST_HEADROOM: u64 = 512 << 20;

/// The guard after each pooled linear memory when slots are full-size
/// (wasmtime's default on 64-bit hosts).
const FULL_GUARD: u64 = 32 << 20;

/// The guard after each linear memory when slots are not full-size (the
/// code checks bounds explicitly; the guard only catches small offsets).
const SMALL_GUARD: u64 = 64 << 10;

/// Address space a growing on-demand memory reserves ahead of its size.
const GROWTH: u64 = 32 << 20;

/// Besides its linear memory, what each pooled slot reserves: the guest's
/// async stack (plus its guard page) and its tables, rounded up.
const SLOT_EXTRA: u64 = (MAX_WASM_STACK as u64) + (2 << 20);

/// How guests' memories are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryPlan {
    /// A pool of slots reserved up front, each `reservation` bytes of
    /// linear memory plus `guard`.
    Pooled {
        /// Bytes of address space per slot's linear memory.
        reservation: u64,
        /// The guard region after it.
        guard: u64,
    },
    /// Each guest's memory mapped when it starts, grown as it grows.
    OnDemand,
}

impl MemoryPlan {
    /// The fast plan: full-size slots.
    pub const FULL: MemoryPlan = MemoryPlan::Pooled {
        reservation: MAX_MEMORY_BYTES,
        guard: FULL_GUARD,
    };

    /// Address space the pool reserves for `slots` slots (0 on demand).
    pub fn needs(self, slots: u32) -> u64 {
        match self {
            MemoryPlan::Pooled { reservation, guard } => {
                u64::from(slots) * (reservation + guard + SLOT_EXTRA) + guard
            }
            MemoryPlan::OnDemand => 0,
        }
    }

    /// Sets the engine configuration's memory knobs for this plan (the
    /// pool's own limits are set by [`MemoryPlan::pool`]).
    pub fn configure(self, config: &mut Config) {
        match self {
            MemoryPlan::Pooled { reservation, guard } => {
                config
                    .memory_reservation(reservation)
                    .memory_guard_size(guard)
                    .memory_reservation_for_growth(0);
            }
            MemoryPlan::OnDemand => {
                config
                    .memory_reservation(0)
                    .memory_guard_size(SMALL_GUARD)
                    .memory_reservation_for_growth(GROWTH);
            }
        }
    }
}

impl fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryPlan::Pooled { reservation, .. } if *reservation == MAX_MEMORY_BYTES => {
                f.write_str("pooled (4 GiB slots, no bounds checks)")
            }
            MemoryPlan::Pooled { reservation, .. } => write!(
                f,
                "pooled ({} slots, explicit bounds checks)",
                human(*reservation)
            ),
            MemoryPlan::OnDemand => {
                f.write_str("on demand (each guest's memory mapped as it grows, bounds checked)")
            }
        }
    }
}

/// The plan for a host, and why it is not the fast one.
#[derive(Debug, Clone)]
pub struct Sizing {
    /// The plan.
    pub plan: MemoryPlan,
    /// Slots (guests at once).
    pub slots: u32,
    /// What the host may reserve.
    pub space: AddressSpace,
    /// Why the plan is not [`MemoryPlan::FULL`] (names the limit and the
    /// flags), if it is not.
    pub why: Option<String>,
}

impl Sizing {
    /// Picks the plan for `slots` guests whose memories are at most
    /// `ceiling` bytes, on a host with `space`.
    pub fn new(slots: u32, ceiling: u64, space: AddressSpace) -> Sizing {
        let Some(available) = space.available(HOST_HEADROOM) else {
            return Sizing {
                plan: MemoryPlan::FULL,
                slots,
                space,
                why: None,
            };
        };
        let full = MemoryPlan::FULL;
        let limit = human(space.limit.unwrap_or(0));
        if full.needs(slots) <= available {
            return Sizing {
                plan: full,
                slots,
                space,
                why: None,
            };
        }
        let small = MemoryPlan::Pooled {
            reservation: ceiling
                .clamp(64 << 10, MAX_MEMORY_BYTES)
                .next_multiple_of(64 << 10),
            guard: SMALL_GUARD,
        };
        let (plan, how) = if small.needs(slots) <= available {
            (small, "slots the size of --max-memory-mb")
        } else {
            (
                MemoryPlan::OnDemand,
                "each guest's memory mapped as it grows",
            )
        };
        Sizing {
            plan,
            slots,
            space,
            why: Some(format!(
                "this host may reserve {limit} of address space (ulimit -v) and {slots} full wasm slots need {}: {how} instead (more room: raise ulimit -v, or lower --wasm-slots or --max-memory-mb)",
                human(full.needs(slots) + HOST_HEADROOM + space.in_use),
            )),
        }
    }

    /// The same sizing after the pool could not be reserved after all
    /// (`err`): on demand.
    pub fn on_demand_after(&self, err: &str) -> Sizing {
        Sizing {
            plan: MemoryPlan::OnDemand,
            why: Some(format!(
                "the wasm memory pool could not be reserved ({err}): each guest's memory is mapped as it grows instead (more room: raise ulimit -v, or lower --wasm-slots or --max-memory-mb)"
            )),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn space(limit: Option<u64>) -> AddressSpace {
        AddressSpace {
            limit,
            in_use: 300 << 20,
        }
    }

    #[test]
    fn an_unlimited_host_gets_full_slots() {
        let s = Sizing::new(64, 4 * GIB, space(None));
        assert_eq!(s.plan, MemoryPlan::FULL);
        assert!(s.why.is_none());
        // 64 full slots: about 258 GiB, as wasmtime reserves them.
        let n = MemoryPlan::FULL.needs(64);
        assert!(n > 258 * GIB && n < 260 * GIB, "{n}");
    }

    #[test]
    fn a_small_address_space_shrinks_the_slots_then_maps_on_demand() {
        // 16 slots of a 256 MiB ceiling fit in 8 GiB; 16 full ones do not.
        let s = Sizing::new(16, 256 << 20, space(Some(8 * GIB)));
        assert!(
            matches!(s.plan, MemoryPlan::Pooled { reservation, .. } if reservation == 256 << 20),
            "{s:?}"
        );
        let why = s.why.unwrap();
        assert!(
            why.contains("ulimit -v") && why.contains("--wasm-slots"),
            "{why}"
        );
        // 64 slots of the default 4 GiB ceiling in 2 GiB: on demand.
        let s = Sizing::new(64, 4 * GIB, space(Some(2 * GIB)));
        assert_eq!(s.plan, MemoryPlan::OnDemand);
        assert!(s.why.unwrap().contains("2.0 GiB"));
    }

    #[test]
    fn one_slot_fits_where_its_size_does() {
        assert_eq!(
            Sizing::new(1, 4 * GIB, space(Some(6 * GIB))).plan,
            MemoryPlan::FULL
        );
        assert_ne!(
            Sizing::new(1, 4 * GIB, space(Some(4 * GIB))).plan,
            MemoryPlan::FULL
        );
    }
}
