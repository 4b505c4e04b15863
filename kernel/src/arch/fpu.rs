//! The user threads' x87/MMX/SSE state (FXSAVE64/FXRSTOR64).
//!
//! The kernel is built soft-float (`x86_64-target.json`: no SSE, no MMX, no x87 code), so the
//! CPU's floating-point and vector registers belong to ring 3 alone: kernel tasks never touch
//! them, and the kernel-to-kernel context switch (`context`) neither saves nor restores them.
//! A user thread's state is kept in its own [`FpuState`] (512 bytes, 16-byte aligned, the
//! FXSAVE layout of the Intel SDM, vol. 1, 10.5.1):
//!
//! - every time ring 3 gives the CPU back (a system call, or an interrupt that takes the thread
//!   out to be preempted or killed) the thread's process task saves the live registers into its
//!   area ([`FpuState::save`]);
//! - before entering ring 3 it restores them ([`FpuState::restore_for`]) unless the registers
//!   still hold exactly that thread's state: the last area saved belongs to the same thread
//!   (tracked by owner id in [`LAST_SAVED_OWNER`]), and nothing but ring 3 writes the
//!   registers. So a thread that makes system calls without another thread running in between
//!   pays only the save.
//!
//! Interrupts that return straight to ring 3 (`iretq` without preemption) run kernel code only,
//! which does not touch the registers, so they need no save.
//!
//! AVX and later state is not enabled: CR4.OSXSAVE stays clear, so a VEX-encoded instruction
//! raises #UD in ring 3 (the fault policy ends the process) instead of leaving YMM upper halves
//! unsaved. [`init`] sets CR0.MP, clears CR0.EM and CR0.TS, and sets CR4.OSFXSR and
//! CR4.OSXMMEXCPT (SSE instructions and SIMD floating-point exceptions as #XM).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

/// The size of the FXSAVE area.
pub const FXSAVE_AREA_SIZE: usize = 512;
/// The x87 control word a fresh thread starts with (all exceptions masked, 64-bit precision,
/// round to nearest), as after FNINIT.
pub const DEFAULT_FPU_CONTROL_WORD: u16 = 0x037f;
/// The MXCSR a fresh thread starts with (all SIMD exceptions masked, round to nearest), as
/// after reset.
pub const DEFAULT_MXCSR: u32 = 0x1f80;
/// Offset of FCW in the FXSAVE area.
const CONTROL_WORD_OFFSET: usize = 0;
/// Offset of MXCSR in the FXSAVE area.
const MXCSR_OFFSET: usize = 24;

/// No owner: the registers hold no saved thread's state (boot).
const NO_OWNER: u64 = u64::MAX;
/// The owner id of the area the CPU's registers were last saved into (or restored from).
static LAST_SAVED_OWNER: AtomicU64 = AtomicU64::new(NO_OWNER);

/// One user thread's x87/MMX/SSE registers in the FXSAVE layout.
#[repr(C, align(16))]
pub struct FpuState {
    area: [u8; FXSAVE_AREA_SIZE],
}

const _: () = {
    assert!(core::mem::size_of::<FpuState>() == FXSAVE_AREA_SIZE);
    assert!(core::mem::align_of::<FpuState>() == 16);
};

impl FpuState {
    /// The state a new thread starts with: everything zero, FCW = [`DEFAULT_FPU_CONTROL_WORD`],
    /// MXCSR = [`DEFAULT_MXCSR`] (heap-allocated: the area is large and must stay aligned).
    pub fn new() -> Box<FpuState> {
        let mut state = Box::new(FpuState {
            area: [0; FXSAVE_AREA_SIZE],
        });
        state.area[CONTROL_WORD_OFFSET..CONTROL_WORD_OFFSET + 2]
            .copy_from_slice(&DEFAULT_FPU_CONTROL_WORD.to_le_bytes());
        state.area[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
        state
    }

    /// A copy of this area (a new thread starts with its creator's registers, as Linux's
    /// `clone` does).
    pub fn duplicate(&self) -> Box<FpuState> {
        Box::new(FpuState { area: self.area })
    }

    /// The saved MXCSR.
    pub fn mxcsr(&self) -> u32 {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&self.area[MXCSR_OFFSET..MXCSR_OFFSET + 4]);
        u32::from_le_bytes(bytes)
    }

    /// The saved x87 control word.
    pub fn control_word(&self) -> u16 {
        u16::from_le_bytes([
            self.area[CONTROL_WORD_OFFSET],
            self.area[CONTROL_WORD_OFFSET + 1],
        ])
    }

    /// Saves the live registers (ring 3 just gave the CPU back to `owner`'s task) into this
    /// area.
    pub fn save(&mut self, owner: u64) {
        // SAFETY: FXSAVE64 writes exactly 512 bytes at a 16-byte aligned address: `self.area`
        // (the struct is `align(16)` and 512 bytes long), which `&mut self` owns. CR4.OSFXSR is
        // set by `init` before any process runs, so the instruction saves the XMM registers.
        unsafe {
            core::arch::asm!(
                "fxsave64 [{area}]",
                area = in(reg) self.area.as_mut_ptr(),
                options(nostack, preserves_flags),
            );
        }
        LAST_SAVED_OWNER.store(owner, Ordering::Relaxed);
    }

    /// Loads this area (`owner`'s) into the registers before `owner` enters ring 3, unless
    /// they still hold it (see the module docs).
    pub fn restore_for(&self, owner: u64) {
        if LAST_SAVED_OWNER.load(Ordering::Relaxed) == owner {
            return;
        }
        // SAFETY: FXRSTOR64 reads 512 bytes at a 16-byte aligned address: `self.area`. The area
        // was written by `new` (valid MXCSR, no reserved bit set) or by FXSAVE64 (the CPU's own
        // valid state), so the MXCSR reserved-bit #GP cannot happen; ring 3 never writes it.
        unsafe {
            core::arch::asm!(
                "fxrstor64 [{area}]",
                area = in(reg) self.area.as_ptr(),
                options(nostack, preserves_flags, readonly),
            );
        }
        LAST_SAVED_OWNER.store(owner, Ordering::Relaxed);
    }
}

/// Enables FXSAVE/FXRSTOR and SSE for ring 3 (see the module docs); called once at boot.
pub fn init() {
    let mut cr0 = Cr0::read();
    cr0.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
    cr0.insert(Cr0Flags::MONITOR_COPROCESSOR);
    // SAFETY: only the floating-point control bits change: no x87 emulation, no lazy-switch
    // trap (#NM), WAIT honours TS. Paging, protection and caching bits are kept as read.
    unsafe { Cr0::write(cr0) };
    let mut cr4 = Cr4::read();
    cr4.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
    // SAFETY: only enables FXSAVE/FXRSTOR with the XMM registers and #XM reporting; every
    // other bit is kept as read.
    unsafe { Cr4::write(cr4) };
    // A known state for the first thread that finds no saved owner: FNINIT plus the default
    // MXCSR (the firmware may have left anything).
    let mxcsr = DEFAULT_MXCSR;
    // SAFETY: FNINIT resets the x87 unit; LDMXCSR loads a valid value (no reserved bit) from a
    // local on the stack.
    unsafe {
        core::arch::asm!("fninit", options(nomem, nostack));
        core::arch::asm!("ldmxcsr [{}]", in(reg) &mxcsr, options(nostack, readonly));
    }
}
