//! The GDT with one kernel code segment, one data segment and a TSS whose interrupt stack table
//! gives the double-fault, NMI and machine-check handlers known-good stacks (so a stack overflow
//! reports instead of triple-faulting).

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

const IST_STACK_SIZE: usize = 16 * 1024;

/// One IST stack; aligned so the CPU's 16-byte alignment of the frame holds.
#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut NMI_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut MACHINE_CHECK_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

fn stack_top(stack: *const IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack) + IST_STACK_SIZE as u64
}

static TSS: Lazy<TaskStateSegment> = Lazy::new(|| {
    let mut tss = TaskStateSegment::new();
    tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] =
        stack_top(&raw const DOUBLE_FAULT_STACK);
    tss.interrupt_stack_table[NMI_IST_INDEX as usize] = stack_top(&raw const NMI_STACK);
    tss.interrupt_stack_table[MACHINE_CHECK_IST_INDEX as usize] =
        stack_top(&raw const MACHINE_CHECK_STACK);
    tss
});

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Lazy<(GlobalDescriptorTable, Selectors)> = Lazy::new(|| {
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss = gdt.append(Descriptor::tss_segment(&TSS));
    (gdt, Selectors { code, data, tss })
});

/// Loads the GDT, reloads the segment registers and loads the TSS.
pub fn init() {
    GDT.0.load();
    let selectors = &GDT.1;
    // SAFETY: the selectors index the GDT just loaded, with descriptors of the right kinds; the
    // TSS is a static that lives forever.
    unsafe {
        CS::set_reg(selectors.code);
        SS::set_reg(selectors.data);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
}
