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
//! A freed stack's slot keeps its mapping and goes to a free list, and the next stack takes
//! it: no page-table change happens when a task is dropped (which may be in any context), and
//! the frames of the stacks stay with the pool (bounded by the most tasks alive at once).

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
/// Slots in the region (far more than the kernel ever runs at once).
const SLOTS: u64 = 4096;

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
        if let Some(slot) = with_pool(|pool| pool.free.pop()) {
            return Ok(KernelStack { slot });
        }
        let slot = with_pool(|pool| {
            let slot = pool.next_unused;
            if slot >= SLOTS {
                return None;
            }
            pool.next_unused += 1;
            Some(slot)
        })
        .ok_or(StackError::NoSlot)?;
        let stack = KernelStack { slot };
        stack.map()?;
        Ok(stack)
    }

    /// Maps the stack part of a new slot to fresh zeroed frames.
    fn map(&self) -> Result<(), StackError> {
        let bottom = slot_base(self.slot) + GUARD_SIZE;
        for page in (bottom..bottom + crate::task::STACK_SIZE as u64).step_by(PAGE as usize) {
            let frame = allocate_frame()?;
            let window = physical_to_virtual(frame);
            // SAFETY: the frame was just allocated, so nothing else refers to it; the window
            // maps it writable, and 4096 bytes from its start are the frame itself.
            unsafe { core::ptr::write_bytes(window.as_mut_ptr::<u8>(), 0, PAGE as usize) };
            if let Err(error) = paging::map_page(VirtAddr::new(page), frame, MappingKind::Memory) {
                free_frame(frame);
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
        let slot = self.slot;
        with_pool(|pool| pool.free.push(slot));
    }
}

/// The slot whose guard contains `address`, if any: the fault at `address` was a stack
/// overflow of the task running on that slot.
pub fn guard_slot(address: u64) -> Option<u64> {
    let offset = address.checked_sub(STACKS_START)?;
    let slot = offset / SLOT_SIZE;
    (slot < SLOTS && offset % SLOT_SIZE < GUARD_SIZE).then_some(slot)
}
