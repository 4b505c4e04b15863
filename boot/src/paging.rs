//! The kernel's initial page tables, and the jump into the kernel.
//!
//! Layout (see `boot_info`): physical memory `[0, max(highest, 4 GiB))` is mapped with 2 MiB
//! pages twice, at virtual 0 (identity, so this code survives the CR3 switch) and at
//! `PHYSICAL_MEMORY_OFFSET` (the kernel's window; the two share their lower-level tables).
//! The kernel's segments are mapped with 4 KiB pages at their link addresses, writable and
//! executable only as their ELF flags say.

use crate::BootError;
use crate::elf_loader::LoadedKernel;
use boot_info::PHYSICAL_MEMORY_OFFSET;
use core::convert::Infallible;

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
const GIB: u64 = 1 << 30;

fn table(physical: u64) -> &'static mut [u64; 512] {
    // SAFETY: `physical` is a zeroed page we allocated for a page table; UEFI identity-maps it.
    unsafe { &mut *(physical as *mut [u64; 512]) }
}

fn index(virtual_address: u64, level: u32) -> usize {
    ((virtual_address >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Returns the table that `entry` points to, allocating it when the entry is empty.
fn next_table(
    entry: &mut u64,
    allocate: &impl Fn(u64) -> Result<u64, BootError>,
) -> Result<&'static mut [u64; 512], BootError> {
    if *entry & PRESENT == 0 {
        *entry = allocate(1)? | PRESENT | WRITABLE;
    }
    Ok(table(*entry & ADDRESS_MASK))
}

/// Builds the page tables and returns the physical address of the top-level table.
pub fn build(
    kernel: &LoadedKernel,
    highest_address: u64,
    allocate: impl Fn(u64) -> Result<u64, BootError>,
) -> Result<u64, BootError> {
    let pml4_address = allocate(1)?;
    let pml4 = table(pml4_address);
    let limit = highest_address.max(4 * GIB).next_multiple_of(GIB);
    let window = index(PHYSICAL_MEMORY_OFFSET, 4);
    // One PDPT per 512 GiB, one page directory (2 MiB pages) per GiB.
    let mut gib = 0;
    while gib * GIB < limit {
        let pml4_index = (gib / 512) as usize;
        if pml4_index >= 256 {
            break; // more than 128 TiB: not mapped
        }
        let pdpt = next_table(&mut pml4[pml4_index], &allocate)?;
        pml4[window + pml4_index] = pml4[pml4_index];
        let directory = next_table(&mut pdpt[(gib % 512) as usize], &allocate)?;
        for (slot, entry) in directory.iter_mut().enumerate() {
            let physical = gib * GIB + slot as u64 * (2 << 20);
            // Executable: the identity half must run this stub after the switch; the kernel
            // drops the identity half and may tighten the window.
            *entry = physical | PRESENT | WRITABLE | HUGE;
        }
        gib += 1;
    }
    for segment in kernel.segments.iter().flatten() {
        let mut offset = 0;
        while offset < segment.size {
            let virtual_address = segment.virtual_start + offset;
            let physical = kernel.physical_start + (virtual_address - kernel.virtual_start);
            let pdpt = next_table(&mut pml4[index(virtual_address, 4)], &allocate)?;
            let directory = next_table(&mut pdpt[index(virtual_address, 3)], &allocate)?;
            let page_table = next_table(&mut directory[index(virtual_address, 2)], &allocate)?;
            let mut flags = PRESENT;
            if segment.writable {
                flags |= WRITABLE;
            }
            if !segment.executable {
                flags |= NO_EXECUTE;
            }
            page_table[index(virtual_address, 1)] = physical | flags;
            offset += 4096;
        }
    }
    Ok(pml4_address)
}

/// Loads the new page tables, switches to the kernel stack and jumps to the kernel.
///
/// # Safety
/// `pml4` must map this code at its current address, `stack_top`, the boot info at
/// `boot_info` and the kernel entry at `entry`; boot services must have been exited.
pub unsafe fn enter_kernel(
    pml4: u64,
    stack_top: u64,
    entry: u64,
    boot_info: u64,
) -> Result<Infallible, BootError> {
    // SAFETY: the caller guarantees the mappings. EFER.NXE (bit 11) must be on before tables
    // with the no-execute bit are loaded; CR0.WP keeps read-only kernel pages read-only.
    unsafe {
        core::arch::asm!(
            "cli",
            "mov ecx, 0xC0000080",
            "rdmsr",
            "or eax, 1 << 11",
            "wrmsr",
            "mov rax, cr0",
            "or rax, 1 << 16",
            "mov cr0, rax",
            "mov cr3, r8",
            "mov rsp, r9",
            "xor ebp, ebp",
            "push rbp",
            "jmp r10",
            in("r8") pml4,
            in("r9") stack_top,
            in("r10") entry,
            in("rdi") boot_info,
            options(noreturn)
        )
    }
}
