//! Kernel task stacks with guard pages.
//!
//! Each stack lives in its own slot of the [`STACKS_START`] region: [`SLOT_SIZE`] bytes of
//! virtual space whose upper [`crate::task::STACK_SIZE`] bytes are mapped to RAM and whose
//! lower part ([`GUARD_SIZE`], at least one page) is never mapped. A task that runs off the
//! bottom of its stack touches the guard and faults there instead of overwriting whatever lies
//! below (with the heap-allocated stacks of before, the heap). The CPU then cannot push the
//! page-fault frame either (the stack pointer is in the guard), so the fault becomes a double
//! fault, whose handler runs on its own IST stack ([`crate::arch::gdt`]) and names the task
//! from [`guard_slot`] (`arch::exceptions`), instead of the triple fault that would reset the
//! machine.
//!
//! A dropped stack's pages are unmapped and their frames freed, and its slot goes to a free
//! list for the next stack. The page-table and frame locks are only taken with interrupts
//! disabled, so a drop in any context cannot deadlock on them; a task's stack is dropped only
//! after the scheduler has switched away from it (it keeps the previous task alive across
//! the switch).

use alloc::vec::Vec;

use spin::Mutex;
use x86_64::VirtAddr;

use super::paging::{self, MapError, MappingKind};
use super::{OutOfMemory, allocate_frame, free_frame, physical_to_virtual};

/// Start of the stack region (its own PML4 slot).
pub const STACKS_START: u64 = 0xffff_f000_0000_0000;
/// Virtual bytes per stack: the guard, then the stack.
pub const SLOT_SIZE: u64 = 2 * crate::task::STACK_SIZE as u64;
/// The unmapped bytes under each stack.
pub const GUARD_SIZE: u64 = SLOT_SIZE - crate::task::STACK_SIZE as u64;
/// Slots in the region (far more tasks than the kernel runs at once).
const SLOTS: u64 = 1024;

/// Bytes one last-level page table maps.
const TABLE_SPAN: u64 = 2 * 1024 * 1024;

const PAGE: u64 = 4096;

struct Pool {
    next_unused: u64,
    free: Vec<u64>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    next_unused: 0,
    free: Vec::new(),
});

fn with_pool<R>(body: impl FnOnce(&mut Pool) -> R) -> R {
    x86_64::instructions::interrupts::without_interrupts(|| body(&mut POOL.lock()))
}

/// Creates the page tables of the whole region once (by mapping and unmapping one page in
/// each 2 MiB), so that making a stack later allocates only its own frames: the frames of a
/// dropped stack are all given back, and counts of free frames before and after tasks come
/// and go match (256 KiB of tables for the 1024 slots).
pub fn init() -> Result<(), StackError> {
    // The free list holds at most every slot: sized once, so that it does not grow the heap
    // as tasks come and go (the chaos run compares heap use before and after its faults).
    let mut free = Vec::with_capacity(SLOTS as usize);
    with_pool(|pool| core::mem::swap(&mut pool.free, &mut free));
    drop(free);
    let frame = allocate_frame()?;
    let mut result = Ok(());
    for table in (STACKS_START..STACKS_START + SLOTS * SLOT_SIZE).step_by(TABLE_SPAN as usize) {
        let page = VirtAddr::new(table);
        result = paging::map_page(page, frame, MappingKind::Memory)
            .and_then(|()| paging::unmap_page(page).map(|_| ()))
            .map_err(StackError::Map);
        if result.is_err() {
            break;
        }
    }
    // SAFETY: the frame was allocated above and every mapping of it was removed again.
    unsafe { free_frame(frame) };
    result
}

/// A stack could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackError {
    /// No frames for it.
    OutOfMemory,
    /// Every slot is in use.
    NoSlot,
    /// The page tables refused the mapping.
    Map(MapError),
}

impl From<OutOfMemory> for StackError {
    fn from(_: OutOfMemory) -> Self {
        StackError::OutOfMemory
    }
}

/// One task stack in its slot, with the guard below it; its slot goes back to the pool on
/// drop.
#[derive(Debug)]
pub struct KernelStack {
    slot: u64,
}

fn slot_base(slot: u64) -> u64 {
    STACKS_START + slot * SLOT_SIZE
}

impl KernelStack {
    /// A stack from the pool (a freed slot, or a new one mapped now).
    pub fn new() -> Result<KernelStack, StackError> {
        let slot = with_pool(|pool| {
            pool.free.pop().or_else(|| {
                let slot = pool.next_unused;
                (slot < SLOTS).then(|| {
                    pool.next_unused += 1;
                    slot
                })
            })
        })
        .ok_or(StackError::NoSlot)?;
        // On a failed mapping, the drop unmaps what was mapped and returns the slot.
        let stack = KernelStack { slot };
        stack.map()?;
        Ok(stack)
    }

    fn pages(&self) -> impl Iterator<Item = u64> {
        let bottom = slot_base(self.slot) + GUARD_SIZE;
        (bottom..bottom + crate::task::STACK_SIZE as u64).step_by(PAGE as usize)
    }

    /// Maps the stack part of the slot to fresh zeroed frames.
    fn map(&self) -> Result<(), StackError> {
        for page in self.pages() {
            let frame = allocate_frame()?;
            let window = physical_to_virtual(frame);
            // SAFETY: the frame was just allocated, so nothing else refers to it; the window
            // maps it writable, and 4096 bytes from its start are the frame itself.
            unsafe { core::ptr::write_bytes(window.as_mut_ptr::<u8>(), 0, PAGE as usize) };
            if let Err(error) = paging::map_page(VirtAddr::new(page), frame, MappingKind::Memory) {
                // SAFETY: allocated just above; the failed map left no mapping of it.
                unsafe { free_frame(frame) };
                return Err(StackError::Map(error));
            }
        }
        Ok(())
    }

    /// The stack as words (its top is 16-byte aligned).
    pub fn words(&mut self) -> &mut [u64] {
        let bottom = slot_base(self.slot) + GUARD_SIZE;
        // SAFETY: the range is mapped writable RAM (`map`) that only this stack's owner uses
        // (the slot is handed out once until dropped); `&mut self` makes the borrow unique.
        unsafe {
            core::slice::from_raw_parts_mut(
                bottom as *mut u64,
                crate::task::STACK_SIZE / core::mem::size_of::<u64>(),
            )
        }
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        for page in self.pages() {
            // A page a failed `map` never reached is simply not mapped.
            if let Ok(frame) = paging::unmap_page(VirtAddr::new(page)) {
                // SAFETY: the stack's own frame, just unmapped; the stack is being dropped.
                unsafe { free_frame(frame) };
            }
        }
        let slot = self.slot;
        with_pool(|pool| pool.free.push(slot));
    }
}

/// The lowest address of the task stack that contains `address` (its guard page lies just
/// below), if `address` is on a task stack.
pub fn stack_bottom(address: u64) -> Option<u64> {
    let offset = address.checked_sub(STACKS_START)?;
    let slot = offset / SLOT_SIZE;
    (slot < SLOTS && offset % SLOT_SIZE >= GUARD_SIZE).then(|| slot_base(slot) + GUARD_SIZE)
}

/// The slot whose guard contains `address`, if any: the fault at `address` was a stack
/// overflow of the task running on that slot.
pub fn guard_slot(address: u64) -> Option<u64> {
    let offset = address.checked_sub(STACKS_START)?;
    let slot = offset / SLOT_SIZE;
    (slot < SLOTS && offset % SLOT_SIZE < GUARD_SIZE).then_some(slot)
}
