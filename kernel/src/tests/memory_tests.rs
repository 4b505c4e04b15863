//! Tests of the heap, the frame allocator and paging.

use alloc::boxed::Box;
use alloc::vec::Vec;

use x86_64::VirtAddr;

use crate::memory::{self, ContiguousPages, MappingKind, paging, physical_to_virtual};
use crate::task::Builder;
use crate::testing::TestResult;
use crate::{ensure, kernel_test};

fn heap_allocation_stress() -> TestResult {
    let mut blocks: Vec<Box<[u8]>> = Vec::new();
    for round in 0..4u32 {
        for index in 0..400usize {
            let size = 1 + (index * 37 + round as usize * 101) % 3000;
            let fill = (index as u8) ^ (round as u8);
            blocks.push(alloc::vec![fill; size].into_boxed_slice());
        }
        // Free every other block, then check the survivors.
        let mut index = 0;
        blocks.retain(|_| {
            index += 1;
            index % 2 == 0
        });
        for block in &blocks {
            let first = block[0];
            ensure!(
                block.iter().all(|byte| *byte == first),
                "heap block corrupted"
            );
        }
    }
    let large: Vec<u64> = (0..1_000_000u64).collect();
    ensure!(
        large.iter().sum::<u64>() == 499_999_500_000,
        "large vector sum wrong"
    );
    Ok(())
}
kernel_test!(heap_allocation_stress, heap_allocation_stress);

fn contiguous_pages_are_zeroed_and_returned() -> TestResult {
    let free_before = memory::free_frames();
    {
        let pages = ContiguousPages::allocate_zeroed(16).map_err(|_| "allocation failed")?;
        ensure!(
            pages.physical_address().is_aligned(4096u64),
            "not page aligned"
        );
        ensure!(
            pages.page_count() == 16,
            "page count {}",
            pages.page_count()
        );
        ensure!(
            memory::free_frames() == free_before - 16,
            "free count not reduced by 16"
        );
        let base = pages.virtual_address();
        ensure!(
            base == physical_to_virtual(pages.physical_address()),
            "virtual address is not the window address"
        );
        for index in 0..16 {
            let physical = pages.page_physical_address(index).ok_or("page missing")?;
            ensure!(
                physical.as_u64() == pages.physical_address().as_u64() + index as u64 * 4096,
                "pages are not contiguous"
            );
            ensure!(
                paging::translate(base + index as u64 * 4096) == Some(physical),
                "window does not map page {index} to its frame"
            );
        }
        let sample = memory::read_physical_u64(pages.physical_address() + 8 * 4096u64);
        ensure!(sample == 0, "page not zeroed");
    }
    ensure!(
        memory::free_frames() == free_before,
        "frames not returned on drop"
    );
    Ok(())
}
kernel_test!(
    contiguous_pages_are_zeroed_and_returned,
    contiguous_pages_are_zeroed_and_returned
);

const TEST_PAGE: u64 = memory::SCRATCH_START + 0x10_0000;

fn page_map_and_unmap() -> TestResult {
    let frame = memory::allocate_frame().map_err(|_| "no frame")?;
    let page = VirtAddr::new(TEST_PAGE);
    paging::map_page(page, frame, MappingKind::Memory)
        .map_err(|error| alloc::format!("{error:?}"))?;
    ensure!(
        paging::translate(page) == Some(frame),
        "translation after map is wrong"
    );
    memory::write_virtual_u64(page + 16u64, 0x1234_5678_9abc_def0);
    ensure!(
        memory::read_physical_u64(frame + 16u64) == 0x1234_5678_9abc_def0,
        "write through the new mapping not visible through the window"
    );
    ensure!(
        paging::map_page(page, frame, MappingKind::Memory) == Err(memory::MapError::AlreadyMapped),
        "double map not refused"
    );
    let unmapped = paging::unmap_page(page).map_err(|error| alloc::format!("{error:?}"))?;
    ensure!(unmapped == frame, "unmap returned another frame");
    ensure!(
        paging::translate(page).is_none(),
        "still mapped after unmap"
    );
    ensure!(
        paging::unmap_page(page) == Err(memory::MapError::NotMapped),
        "second unmap not refused"
    );
    memory::free_frame(frame);
    // Touching the unmapped page must fault (the TLB entry was flushed).
    let toucher = Builder::new("touch unmapped")
        .expect_fault()
        .spawn(move || crate::arch::exceptions::read_byte_at(TEST_PAGE + 16));
    match toucher.join() {
        Err(fault) if fault.vector == 14 && fault.address == TEST_PAGE + 16 => Ok(()),
        other => Err(alloc::format!(
            "expected a page fault at the unmapped page, got {other:?}"
        )),
    }
}
kernel_test!(page_map_and_unmap, page_map_and_unmap);

fn page_fault_is_reported_and_contained() -> TestResult {
    const ADDRESS: u64 = 0xffff_e000_dead_b000;
    let faulting = Builder::new("page fault")
        .expect_fault()
        .spawn(|| crate::arch::exceptions::read_byte_at(ADDRESS));
    match faulting.join() {
        Err(fault) => {
            ensure!(fault.vector == 14, "vector {} instead of 14", fault.vector);
            ensure!(
                fault.address == ADDRESS,
                "CR2 {:#x} instead of {ADDRESS:#x}",
                fault.address
            );
            ensure!(
                fault.error_code & 1 == 0,
                "error code says the page was present"
            );
            Ok(())
        }
        Ok(value) => Err(alloc::format!(
            "read of an unmapped address returned {value}"
        )),
    }
}
kernel_test!(
    page_fault_is_reported_and_contained,
    page_fault_is_reported_and_contained
);

fn identity_map_is_gone() -> TestResult {
    ensure!(
        paging::translate(VirtAddr::new(0x10_0000)).is_none(),
        "low memory still mapped"
    );
    ensure!(
        paging::translate(VirtAddr::new(0x1000)).is_none(),
        "page 0x1000 still identity-mapped"
    );
    Ok(())
}
kernel_test!(identity_map_is_gone, identity_map_is_gone);

/// The kernel programs IA32_PAT as Linux does: entry 1 (PWT alone) write-combining for
/// framebuffer and IO-space views, entry 3 (PCD + PWT) uncached, entry 0 write-back.
fn page_attribute_table_is_programmed() -> TestResult {
    let table = paging::page_attribute_table();
    ensure!(
        table == paging::PAGE_ATTRIBUTE_TABLE,
        "IA32_PAT reads back a different value"
    );
    let entry = |index: u32| (table >> (index * 8)) & 0x7;
    ensure!(
        (entry(0), entry(1), entry(3)) == (6, 1, 0),
        "PAT entries 0/1/3 are not WB/WC/UC"
    );
    Ok(())
}
kernel_test!(
    page_attribute_table_is_programmed,
    page_attribute_table_is_programmed
);

/// The register block refuses accesses past its end or misaligned for their width, and its
/// typed reads and writes reach the memory they name.
fn register_block_checks_every_access() -> TestResult {
    use crate::memory::registers::{AccessError, Register, RegisterBlock};
    const SECOND_WORD: Register<u32> = Register::at(4);
    let pages = ContiguousPages::allocate_zeroed(1).map_err(|_| "allocation failed")?;
    let block = RegisterBlock::in_window(pages.physical_address(), 16).ok_or("not mapped")?;
    block
        .write(SECOND_WORD, 0xdead_beef)
        .map_err(|error| alloc::format!("{error}"))?;
    ensure!(
        memory::read_physical_u64(pages.physical_address()) == 0xdead_beef_0000_0000,
        "typed write not at offset 4"
    );
    ensure!(
        block.read_at::<u16>(6) == Ok(0xdead),
        "16-bit read at 6 wrong"
    );
    ensure!(
        block.read_at::<u64>(16)
            == Err(AccessError::OutOfBounds {
                offset: 16,
                width: 8,
                length: 16
            }),
        "read past the end admitted"
    );
    ensure!(
        block.write_at::<u64>(12, 0).is_err(),
        "write straddling the end admitted"
    );
    ensure!(
        block.read_at::<u32>(usize::MAX - 1).is_err(),
        "overflowing offset admitted"
    );
    ensure!(
        block.read_at::<u32>(2)
            == Err(AccessError::Misaligned {
                offset: 2,
                width: 4
            }),
        "misaligned read admitted"
    );
    let mut bytes = [0u8; 4];
    block
        .copy_to_slice(4, &mut bytes)
        .map_err(|error| alloc::format!("{error}"))?;
    ensure!(bytes == 0xdead_beefu32.to_le_bytes(), "byte copy wrong");
    ensure!(
        block.copy_within(0, 12, 8).is_err(),
        "copy past the end admitted"
    );
    Ok(())
}
kernel_test!(
    register_block_checks_every_access,
    register_block_checks_every_access
);
