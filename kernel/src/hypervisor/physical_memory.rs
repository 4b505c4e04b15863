//! `GuestMemory` over the guest's own RAM, through the physical-memory window.
//!
//! Only RAM the kernel may lend to the host is reachable: the live `ContiguousPages` (rings,
//! SynIC and monitor pages; `memory::is_lendable`) inside the boot memory map's RAM, and the
//! device ranges [`map_device_range`] added; never the heap, stacks, page tables or process
//! memory (a safe `GuestMemory` over all RAM let safe code write any of them). Every access is
//! bounds-checked against that. Bulk copies go through a `shared_bytes::Window` (its
//! race-safe copy in inline assembly, `rep movsq` / `rep movsb` on this target, as OpenVMM's
//! `trycopy` copies guest memory): the host may change shared pages at any time, so the copy
//! must be one the compiler neither elides, repeats nor reasons about, and callers validate
//! what they copied.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use boot_info::{BootInfo, MemoryKind};
use hyperv::memory::{GuestMemory, MemoryError, Window};
use x86_64::PhysAddr;

use crate::memory::physical_to_virtual;

/// The RAM map of this guest, recorded once at boot (see [`PhysicalMemory::record_boot_map`]).
static BOOT_MAP: spin::Once<PhysicalMemory> = spin::Once::new();

/// Device memory outside RAM that [`map_device_range`] made reachable (start, end): every
/// `PhysicalMemory` accepts it too.
static DEVICE_RANGES: spin::Mutex<Vec<(u64, u64)>> = spin::Mutex::new(Vec::new());

/// Maps `[base, base + length)` of device memory (the dxg IO space in a VMBus MMIO gap)
/// uncached into the physical-memory window and lets every [`PhysicalMemory`] reach it.
pub fn map_device_range(base: u64, length: u64) -> Result<(), crate::memory::MapError> {
    let end = base
        .checked_add(length)
        .ok_or(crate::memory::MapError::NotMapped)?;
    crate::memory::map_device_window(PhysAddr::new(base), length)?;
    x86_64::instructions::interrupts::without_interrupts(|| DEVICE_RANGES.lock().push((base, end)));
    Ok(())
}

/// Stops letting [`PhysicalMemory`] reach the device range [`map_device_range`] made at
/// `base` (its owner gave it back; the window mapping itself is permanent). Without this, a
/// driver restarted again and again would add a range each time, and a range handed back to
/// the MMIO pool would stay reachable.
pub fn release_device_range(base: u64) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        DEVICE_RANGES.lock().retain(|&(start, _)| start != base)
    });
}

fn in_device_range(gpa: u64, end: u64) -> bool {
    x86_64::instructions::interrupts::without_interrupts(|| {
        DEVICE_RANGES
            .lock()
            .iter()
            .any(|&(start, stop)| start <= gpa && end <= stop)
    })
}

/// `[start, end)` ranges sorted by start, with overlapping and touching ones merged (the
/// firmware's map need not be sorted; [`PhysicalMemory::check`] searches by start).
fn sorted_and_merged(mut regions: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    regions.sort_unstable();
    let mut ranges: Vec<(u64, u64)> = Vec::with_capacity(regions.len());
    for (start, end) in regions {
        match ranges.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => ranges.push((start, end)),
        }
    }
    ranges
}

/// The guest's RAM by guest-physical address.
#[derive(Debug)]
pub struct PhysicalMemory {
    /// Sorted, merged `[start, end)` RAM ranges.
    ranges: Vec<(u64, u64)>,
    /// Index in `ranges` of the range the last successful [`Self::is_ram`] found: a hint only
    /// (any value is safe: the range at it is checked like any other, and a miss falls back
    /// to the binary search). A ring's accesses all fall in one range, so most checks take
    /// two comparisons instead of the search.
    last_range: AtomicUsize,
}

impl Clone for PhysicalMemory {
    fn clone(&self) -> Self {
        PhysicalMemory::with_ranges(self.ranges.clone())
    }
}

impl PhysicalMemory {
    /// The RAM ranges of the boot memory map (usable, kernel, ACPI reclaimable).
    pub fn from_boot_info(boot_info: &BootInfo) -> Self {
        let regions = boot_info
            .memory_regions()
            .iter()
            .filter(|region| {
                matches!(
                    region.kind(),
                    MemoryKind::Usable | MemoryKind::KernelReserved | MemoryKind::AcpiReclaimable
                )
            })
            .map(|region| (region.start, region.end()));
        PhysicalMemory::with_ranges(sorted_and_merged(regions.collect()))
    }

    /// RAM made of `ranges` (sorted and merged).
    fn with_ranges(ranges: Vec<(u64, u64)>) -> Self {
        PhysicalMemory {
            ranges,
            last_range: AtomicUsize::new(0),
        }
    }

    /// Whether `[gpa, end)` lies inside one RAM range: the range of the last hit first
    /// (`last_range`), else a binary search (the ranges are sorted and merged, so only the
    /// last one starting at or below `gpa` can hold it).
    #[inline]
    fn is_ram(&self, gpa: u64, end: u64) -> bool {
        let holds = |&(start, stop): &(u64, u64)| start <= gpa && end <= stop;
        let hint = self.last_range.load(Ordering::Relaxed);
        if self.ranges.get(hint).is_some_and(holds) {
            return true;
        }
        let after = self.ranges.partition_point(|&(start, _)| start <= gpa);
        let Some(index) = after.checked_sub(1) else {
            return false;
        };
        let found = self.ranges.get(index).is_some_and(holds);
        if found {
            self.last_range.store(index, Ordering::Relaxed);
        }
        found
    }

    /// Records the boot memory map so that later users (driver start-up, tests) can get a
    /// `PhysicalMemory` without holding the boot info.
    pub fn record_boot_map(boot_info: &BootInfo) {
        BOOT_MAP.call_once(|| Self::from_boot_info(boot_info));
    }

    /// The RAM of this guest, once [`PhysicalMemory::record_boot_map`] ran.
    pub fn of_this_guest() -> Option<PhysicalMemory> {
        BOOT_MAP.get().cloned()
    }

    fn check(&self, gpa: u64, length: usize) -> Result<*mut u8, MemoryError> {
        let error = out_of_range(gpa, length);
        let end = gpa.checked_add(length as u64).ok_or(error)?;
        let lendable_ram = self.is_ram(gpa, end) && crate::memory::is_lendable(gpa, end);
        if !lendable_ram && !in_device_range(gpa, end) {
            return Err(error);
        }
        Ok(physical_to_virtual(PhysAddr::new(gpa)).as_mut_ptr())
    }

    #[inline]
    fn atomic(&self, gpa: u64) -> Result<&AtomicU32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        let pointer = self.check(gpa, 4)?;
        // SAFETY: the address is aligned RAM inside the window (checked above), which stays
        // mapped for the kernel's lifetime; AtomicU32 has the layout of u32.
        Ok(unsafe { &*(pointer as *const AtomicU32) })
    }
}

/// The error for an access to `[gpa, gpa + length)` outside what the kernel may reach.
fn out_of_range(gpa: u64, length: usize) -> MemoryError {
    MemoryError::OutOfRange {
        gpa,
        length: length as u64,
    }
}

impl GuestMemory for PhysicalMemory {
    /// One check (RAM the kernel may lend, or a device range) for the whole range, then a
    /// window whose accesses check only against its length: the ring takes one per packet
    /// instead of checking each of the packet's accesses.
    fn window(&self, gpa: u64, length: usize) -> Option<Window<'_>> {
        let base = self.check(gpa, length).ok()?;
        // SAFETY: `check` found `[gpa, gpa + length)` (not wrapping) inside lendable RAM or a
        // device range, both mapped in the physical-memory window for the kernel's lifetime,
        // so valid for reads and writes. The kernel holds no Rust reference to lent memory
        // (it reaches it only through this type, by copies in assembly or atomics), and the
        // host's accesses are another party's. The window lives for one packet's accesses,
        // inside the borrow of this memory that the ring's owner holds; lent pages (the
        // channel's `ContiguousPages`) are freed only after the channel is closed and its
        // rings dropped (`services::dxg_task`), so they stay lent while a window exists.
        Some(unsafe { Window::from_raw_parts(base, length) })
    }

    #[inline]
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let out_of_range = out_of_range(gpa, buffer.len());
        let window = self.window(gpa, buffer.len()).ok_or(out_of_range)?;
        window.read(0, buffer).map_err(|_| out_of_range)
    }

    #[inline]
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let out_of_range = out_of_range(gpa, data.len());
        let window = self.window(gpa, data.len()).ok_or(out_of_range)?;
        window.write(0, data).map_err(|_| out_of_range)
    }

    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        Ok(self.atomic(gpa)?.swap(value, Ordering::AcqRel))
    }

    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        Ok(self.atomic(gpa)?.fetch_or(bits, Ordering::AcqRel))
    }

    #[inline]
    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        Ok(self.atomic(gpa)?.load(Ordering::Acquire))
    }

    #[inline]
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.atomic(gpa)?.store(value, Ordering::Release);
        Ok(())
    }
}

fn ram_ranges_are_sorted_merged_and_searched() -> crate::testing::TestResult {
    use crate::ensure;
    let ranges = sorted_and_merged(alloc::vec![
        (0x9000, 0xa000),
        (0x1000, 0x2000),
        (0x2000, 0x3000),
        (0x5000, 0x8000),
        (0x6000, 0x7000),
    ]);
    ensure!(
        ranges == [(0x1000, 0x3000), (0x5000, 0x8000), (0x9000, 0xa000)],
        "merged: {ranges:x?}"
    );
    let memory = PhysicalMemory::with_ranges(ranges);
    // Twice, and once more in reverse: every query meets a `last_range` hint left by a
    // different range (or by the same one), which must not change the answer.
    let cases = [
        (0x1000, 0x3000, true),
        (0x2fff, 0x3000, true),
        (0x2fff, 0x3001, false),
        (0x0fff, 0x1001, false),
        (0x0, 0x10, false),
        (0x3000, 0x3001, false),
        (0x5000, 0x8000, true),
        (0x7fff, 0x9001, false),
        (0x9000, 0xa000, true),
        (0xa000, 0xa001, false),
        (u64::MAX - 1, u64::MAX, false),
    ];
    for (gpa, end, expected) in cases.iter().chain(&cases).chain(cases.iter().rev()) {
        ensure!(
            memory.is_ram(*gpa, *end) == *expected,
            "is_ram({gpa:#x}, {end:#x}) should be {expected}"
        );
    }
    // A hint past the end (no range there) is only a miss.
    memory.last_range.store(usize::MAX, Ordering::Relaxed);
    ensure!(
        memory.is_ram(0x5000, 0x6000),
        "a stale hint hid a RAM range"
    );
    Ok(())
}
crate::kernel_test!(ram_ranges_search, ram_ranges_are_sorted_merged_and_searched);
