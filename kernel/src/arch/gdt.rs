//! The GDT and the TSS.
//!
//! Segments, in the order `syscall`/`sysret` need them (STAR holds two bases: `syscall` loads
//! CS = base₀ and SS = base₀ + 8; 64-bit `sysret` loads SS = base₃ + 8 and CS = base₃ + 16):
//!
//! | selector | descriptor |
//! |---|---|
//! | 0x08 | kernel code (64-bit) |
//! | 0x10 | kernel data |
//! | 0x18 (0x1b with RPL 3) | user data |
//! | 0x20 (0x23 with RPL 3) | user code (64-bit) |
//! | 0x28 | TSS (two slots) |
//!
//! The TSS's interrupt stack table gives the double-fault, NMI, machine-check and page-fault
//! handlers known-good stacks (so a stack overflow is reported, and contained in a task with
//! fault containment, instead of triple-faulting), and its `rsp0` is
//! the stack the CPU switches to when an interrupt or exception arrives in ring 3:
//! `arch::user_mode` points it at the running process task's kernel stack before every entry
//! to ring 3.

use spin::Lazy;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (0-based, as the IDT entry wants it) of the double-fault stack.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;
/// IST slot of the NMI stack.
pub const NMI_IST_INDEX: u16 = 1;
/// IST slot of the machine-check stack.
pub const MACHINE_CHECK_IST_INDEX: u16 = 2;
/// IST slot of the page-fault stack: a task that ran off its stack into the guard page gets
/// its page fault reported (and contained) instead of a double fault. Page faults never nest
/// (a second one while the handler runs is fatal, and the handler runs with interrupts
/// disabled and never switches tasks except to abandon the faulting one for good), so one
/// stack serves every page fault, from ring 3 too.
pub const PAGE_FAULT_IST_INDEX: u16 = 3;

const IST_STACK_SIZE: usize = 16 * 1024;

/// One IST stack; aligned so the CPU's 16-byte alignment of the frame holds.
#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut NMI_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut MACHINE_CHECK_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut PAGE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

fn stack_top(stack: *const IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack) + IST_STACK_SIZE as u64
}

/// The TSS. A `static mut` because `rsp0` changes at run time (through [`ring0_stack_slot`]);
/// the CPU reads it by address, and Rust code never forms a reference to it after `init`.
static mut TSS: TaskStateSegment = TaskStateSegment::new();

/// The selectors of the GDT's descriptors.
pub struct Selectors {
    /// Kernel code (RPL 0).
    pub kernel_code: SegmentSelector,
    /// Kernel data/stack (RPL 0).
    pub kernel_data: SegmentSelector,
    /// User data/stack (RPL 3).
    pub user_data: SegmentSelector,
    /// User 64-bit code (RPL 3).
    pub user_code: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Lazy<(GlobalDescriptorTable, Selectors)> = Lazy::new(|| {
    // SAFETY: runs once, before the TSS is loaded, with nothing else referring to it.
    unsafe {
        let tss = &raw mut TSS;
        (*tss).interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] =
            stack_top(&raw const DOUBLE_FAULT_STACK);
        (*tss).interrupt_stack_table[NMI_IST_INDEX as usize] = stack_top(&raw const NMI_STACK);
        (*tss).interrupt_stack_table[MACHINE_CHECK_IST_INDEX as usize] =
            stack_top(&raw const MACHINE_CHECK_STACK);
        (*tss).interrupt_stack_table[PAGE_FAULT_IST_INDEX as usize] =
            stack_top(&raw const PAGE_FAULT_STACK);
    }
    let mut gdt = GlobalDescriptorTable::new();
    let kernel_code = gdt.append(Descriptor::kernel_code_segment());
    let kernel_data = gdt.append(Descriptor::kernel_data_segment());
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    // SAFETY: the TSS is a static that lives forever and is never moved.
    let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(&raw const TSS) });
    (
        gdt,
        Selectors {
            kernel_code,
            kernel_data,
            user_data,
            user_code,
            tss,
        },
    )
});

/// The TSS's `rsp0` slot: the kernel stack for interrupts and exceptions taken in ring 3.
pub(super) fn ring0_stack_slot() -> *mut u64 {
    // `privilege_stack_table[0]` is a `VirtAddr`, a transparent `u64`.
    (&raw mut TSS).cast::<u8>().wrapping_add(4).cast::<u64>()
}

/// Loads the GDT, reloads the segment registers, loads the TSS and enables `syscall`.
pub fn init() {
    GDT.0.load();
    let selectors = &GDT.1;
    // SAFETY: the selectors index the GDT just loaded, with descriptors of the right kinds; the
    // TSS is a static that lives forever.
    unsafe {
        CS::set_reg(selectors.kernel_code);
        SS::set_reg(selectors.kernel_data);
        DS::set_reg(selectors.kernel_data);
        ES::set_reg(selectors.kernel_data);
        load_tss(selectors.tss);
    }
    super::user_mode::init(selectors);
}

const _: () = assert!(core::mem::offset_of!(TaskStateSegment, privilege_stack_table) == 4);
