//! The user threads' x87/MMX/SSE state (FXSAVE64/FXRSTOR64).
//!
//! The kernel is built soft-float (`x86_64-target.json`: no SSE, no MMX, no x87 code), so the
//! CPU's floating-point and vector registers belong to ring 3 alone: kernel tasks never touch
//! them, and the kernel-to-kernel context switch (`context`) neither saves nor restores them.
//! A user thread's state is kept in its own [`FpuState`] (512 bytes, 16-byte aligned, the
//! FXSAVE layout of the Intel SDM, vol. 1, 10.5.1), saved lazily (as Linux defers the save
//! until another task needs the registers):
//!
//! - when ring 3 gives the CPU back (a system call, or an interrupt that takes the thread out
//!   to be preempted or killed) the registers stay live: the thread marks its area as the
//!   owner of the live, unsaved registers ([`FpuState::left_ring3`], one atomic store);
//! - before entering ring 3 a thread loads its area ([`FpuState::load`]): if it is the live
//!   owner, the registers are still its own (nothing but ring 3 writes them) and nothing is
//!   done; otherwise the live owner's registers are first saved into *that* thread's area
//!   (FXSAVE64), then its own are restored (FXRSTOR64);
//! - an area that is dropped while it is the live owner stops being it first ([`Drop`]), so
//!   no save ever goes to freed memory; a thread that needs its area current (a `clone`
//!   copies it to the new thread) saves it explicitly ([`FpuState::save_now`]).
//!
//! So a system call that returns to the same thread costs no FXSAVE/FXRSTOR at all. The live
//! owner is one global: the kernel runs on one CPU (docs/kernel.md, "Known gaps"); a second
//! CPU would need it per CPU, with the cross-CPU save Linux does on migration. `load` is not
//! interrupted by another thread's `load`: only ring 3 is preempted (kernel code, process
//! tasks' included, gives up the CPU only at its own scheduling points), so the take of the
//! owner and the save or restore that follows it happen as one step.
//!
//! Interrupts that return straight to ring 3 (`iretq` without preemption) run kernel code only,
//! which does not touch the registers.
//!
//! AVX and later state is not enabled: CR4.OSXSAVE stays clear, so a VEX-encoded instruction
//! raises #UD in ring 3 (the fault policy ends the process) instead of leaving YMM upper halves
//! unsaved. [`init`] sets CR0.MP, clears CR0.EM and CR0.TS, and sets CR4.OSFXSR and
//! CR4.OSXMMEXCPT (SSE instructions and SIMD floating-point exceptions as #XM).

use alloc::boxed::Box;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

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

/// What [`FpuState::load`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residency {
    /// The registers were still this area's (this thread was the last one in ring 3).
    Kept,
    /// Another thread's state (or none) was live: it was saved, and this area restored.
    Reloaded,
}

/// The area of the thread whose state is live in the registers and not saved (null: none;
/// the registers then hold nothing that must be kept). Set by [`FpuState::left_ring3`], taken
/// by [`FpuState::load`], cleared by the area's [`Drop`].
static UNSAVED_OWNER: AtomicPtr<FpuState> = AtomicPtr::new(ptr::null_mut());

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

    /// Ring 3 just gave the CPU back to this area's thread: its registers stay live and
    /// unsaved until another thread loads its own (see the module docs).
    pub fn left_ring3(&mut self) {
        UNSAVED_OWNER.store(ptr::from_mut(self), Ordering::Release);
    }

    /// Makes the registers hold this area's state before its thread enters ring 3: nothing to
    /// do if they still do (this area is the live owner); otherwise the live owner's state is
    /// saved into its own area first, then this one is restored.
    ///
    /// Returns [`Residency::Kept`] when the registers were still this area's. Every entry to
    /// ring 3 loads its thread's area first, so `Kept` also says that no other thread has
    /// entered ring 3 since this one left it: other CPU state only ring-3 entries change (the
    /// FS base, `user_mode::set_thread_pointer`) is still what this thread left too.
    #[inline]
    pub fn load(&mut self) -> Residency {
        let me = ptr::from_mut(self);
        let live = UNSAVED_OWNER.swap(ptr::null_mut(), Ordering::AcqRel);
        if live == me {
            return Residency::Kept;
        }
        self.load_other(live);
        Residency::Reloaded
    }

    /// `load`'s slow path: the registers hold `live`'s state (or nothing, when null).
    #[inline(never)]
    fn load_other(&mut self, live: *mut FpuState) {
        if !live.is_null() {
            // SAFETY: `live` is the area of a thread that left ring 3 and has not run since
            // (one CPU: the registers are still its state). The area is alive: an area stops
            // being `UNSAVED_OWNER` in its `Drop` before its memory is freed, and the swap
            // above took the pointer, so no one else saves into it. FXSAVE64 writes 512 bytes
            // at a 16-byte aligned address, the size and alignment of `FpuState`. The owning
            // thread is not running (it is not the current task), so nothing else accesses
            // the area while the instruction writes it.
            unsafe { fxsave(live) };
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
    }

    /// Brings this area up to date with the registers if they are its live state (a thread
    /// about to copy its area for a new thread); otherwise the area already is current.
    pub fn save_now(&mut self) {
        let me = ptr::from_mut(self);
        if UNSAVED_OWNER.load(Ordering::Acquire) == me {
            // SAFETY: `me` comes from `&mut self`: valid, 512 bytes, 16-byte aligned, owned by
            // the caller for the duration of the call. The registers hold this area's state
            // (it is the live owner), so saving them keeps it; it stays the live owner.
            unsafe { fxsave(me) };
        }
    }
}

impl Drop for FpuState {
    fn drop(&mut self) {
        // The area stops being the live owner before its memory goes, so `load` never saves
        // into freed memory (a failed exchange means another area is the owner: nothing to do).
        let _ = UNSAVED_OWNER.compare_exchange(
            ptr::from_mut(self),
            ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

/// FXSAVE64 into `area`.
///
/// # Safety
/// `area` must point to a live `FpuState` that nothing else reads or writes during the call.
unsafe fn fxsave(area: *mut FpuState) {
    // SAFETY: the caller guarantees `area` is a live, exclusively accessed `FpuState`: 512
    // bytes, 16-byte aligned, as FXSAVE64 needs. CR4.OSFXSR is set by `init` before any process
    // runs, so the instruction saves the XMM registers.
    unsafe {
        core::arch::asm!(
            "fxsave64 [{area}]",
            area = in(reg) area,
            options(nostack, preserves_flags),
        );
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
