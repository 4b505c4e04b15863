//! Time: the calibrated TSC for fine measurements, and the periodic APIC tick
//! ([`TICK_HZ`]) that wakes sleeping tasks.

use core::sync::atomic::{AtomicU64, Ordering};

use drivers::timekeeping::WaitBudget;

use crate::arch::cpu::read_tsc;

/// Frequency of the periodic timer interrupt.
pub const TICK_HZ: u32 = 1000;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Whole nanoseconds per TSC cycle (`10^9 / hz`), for [`cycles_to_nanoseconds`].
static NANOSECONDS_PER_CYCLE: AtomicU64 = AtomicU64::new(0);
/// The fraction of a nanosecond per TSC cycle beyond [`NANOSECONDS_PER_CYCLE`], in units of
/// 2^-64 ns (`(10^9 mod hz) · 2^64 / hz`, rounded down).
static NANOSECONDS_PER_CYCLE_FRACTION: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Remembers the TSC at kernel entry (the zero of [`nanoseconds_since_boot`]).
pub fn mark_boot(tsc: u64) {
    TSC_AT_BOOT.store(tsc, Ordering::Relaxed);
}

/// Records the calibrated TSC frequency, and the multipliers [`cycles_to_nanoseconds`] uses.
/// Called once, at calibration, before any task reads the clock.
pub fn set_tsc_frequency(hz: u64) {
    let (whole, fraction) = nanoseconds_per_cycle(hz);
    NANOSECONDS_PER_CYCLE.store(whole, Ordering::Relaxed);
    NANOSECONDS_PER_CYCLE_FRACTION.store(fraction, Ordering::Relaxed);
    TSC_HZ.store(hz, Ordering::Relaxed);
}

/// Nanoseconds per cycle at `hz` as a 64.64 fixed-point number: the whole part and the
/// fraction in units of 2^-64 (both 0 for `hz` 0). The two divisions happen once, here.
pub fn nanoseconds_per_cycle(hz: u64) -> (u64, u64) {
    const NANOSECONDS_PER_SECOND: u64 = 1_000_000_000;
    match NANOSECONDS_PER_SECOND.checked_div(hz) {
        None => (0, 0),
        Some(whole) => {
            let remainder = NANOSECONDS_PER_SECOND % hz;
            // remainder < hz, so the quotient is below 2^64.
            let fraction = ((u128::from(remainder) << 64) / u128::from(hz)) as u64;
            (whole, fraction)
        }
    }
}

/// `cycles` at the rate `(whole, fraction)` from [`nanoseconds_per_cycle`]: a multiplication
/// and a shift instead of a 128-bit division, as Linux converts clocksource cycles
/// (torvalds/linux `include/linux/clocksource.h`, `clocksource_cyc2ns`: `(cycles * mult) >>
/// shift`, with `mult`/`shift` from `clocks_calc_mult_shift` in `kernel/time/clocksource.c`).
/// With a 64-bit fraction the result is `cycles · 10^9 / hz` rounded down, or one nanosecond
/// less (the fraction's rounding loses less than `cycles / 2^64` ns); it never decreases as
/// `cycles` grows, and saturates instead of wrapping.
pub fn scale_cycles(cycles: u64, (whole, fraction): (u64, u64)) -> u64 {
    let fractional = ((u128::from(cycles) * u128::from(fraction)) >> 64) as u64;
    cycles.saturating_mul(whole).saturating_add(fractional)
}

/// TSC ticks per second (0 before calibration).
pub fn tsc_frequency() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Timer ticks since the timer started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Converts TSC cycles to nanoseconds (0 before calibration; see [`scale_cycles`]).
pub fn cycles_to_nanoseconds(cycles: u64) -> u64 {
    let rate = (
        NANOSECONDS_PER_CYCLE.load(Ordering::Relaxed),
        NANOSECONDS_PER_CYCLE_FRACTION.load(Ordering::Relaxed),
    );
    scale_cycles(cycles, rate)
}

/// Nanoseconds since kernel entry, from the TSC.
pub fn nanoseconds_since_boot() -> u64 {
    cycles_to_nanoseconds(read_tsc().saturating_sub(TSC_AT_BOOT.load(Ordering::Relaxed)))
}

/// Spins for at least `microseconds` (TSC based; returns at once before calibration).
pub fn busy_wait_microseconds(microseconds: u64) {
    let cycles = tsc_frequency().saturating_mul(microseconds) / 1_000_000;
    let start = read_tsc();
    while read_tsc().wrapping_sub(start) < cycles {
        core::hint::spin_loop();
    }
}

/// A wait bounded by `microseconds` of TSC time once the TSC is calibrated, by
/// `spins_before_calibration` polls before; poll it with [`budget_expired`].
pub fn wait_budget(microseconds: u64, spins_before_calibration: u64) -> WaitBudget {
    WaitBudget::new(
        tsc_frequency(),
        microseconds,
        spins_before_calibration,
        read_tsc(),
    )
}

/// Whether `budget` (from [`wait_budget`]) is spent; call once per poll.
pub fn budget_expired(budget: &mut WaitBudget) -> bool {
    budget.expired(read_tsc())
}

/// Converts milliseconds to timer ticks, rounding up.
pub fn milliseconds_to_ticks(milliseconds: u64) -> u64 {
    // Saturating: the argument may come from an application (Sleep, GPU-call waits).
    milliseconds
        .saturating_mul(u64::from(TICK_HZ))
        .div_ceil(1000)
}

/// Called in interrupt context on every timer tick.
pub fn on_timer_tick() {
    let now = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    crate::task::wake_sleepers(now);
    crate::task::check_runaway(now);
    crate::testing::check_watchdog(now);
}

/// The wall clock: Unix time in nanoseconds minus [`nanoseconds_since_boot`] at the moment it
/// was set (0: never set). Setting it moves only this offset; the monotonic clock
/// ([`nanoseconds_since_boot`]) never jumps.
static WALL_CLOCK_OFFSET: AtomicU64 = AtomicU64::new(0);

/// Sets the wall clock to `unix_nanoseconds` (nanoseconds since 1970-01-01 UTC), e.g. from a
/// Hyper-V time-sync sample. A value before boot time (smaller than the monotonic clock) is
/// ignored.
pub fn set_wall_clock(unix_nanoseconds: u64) -> bool {
    match unix_nanoseconds.checked_sub(nanoseconds_since_boot()) {
        Some(offset) if offset != 0 => {
            WALL_CLOCK_OFFSET.store(offset, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

/// The wall clock in nanoseconds since 1970-01-01 UTC, `None` until it was set.
pub fn wall_clock_nanoseconds() -> Option<u64> {
    match WALL_CLOCK_OFFSET.load(Ordering::Relaxed) {
        0 => None,
        offset => Some(offset.saturating_add(nanoseconds_since_boot())),
    }
}
