//! Tests of the heap, the frame allocator and paging.

use alloc::boxed::Box;
use alloc::vec::Vec;

use x86_64::VirtAddr;

use crate::memory::{self, ContiguousPages, paging, physical_to_virtual};
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

/// The heap's size-class cache (`memory::heap`): layouts map to the right classes; freed
/// class blocks are kept up to the per-class bound and not counted as used; a later
/// allocation of the class takes one back; blocks never overlap and are 16-aligned. Runs with
/// interrupts off, so no other task allocates meanwhile.
fn heap_size_classes_reuse_within_bounds() -> TestResult {
    use crate::memory::heap::{self, CACHED_PER_CLASS, LARGEST_CLASS, class_of};
    use core::alloc::Layout;
    let layout = |size, align| Layout::from_size_align(size, align).map_err(|_| "bad layout");
    ensure!(class_of(layout(1, 1)?) == Some(0), "1 byte: class 16");
    ensure!(class_of(layout(16, 16)?) == Some(0), "16 bytes: class 16");
    ensure!(class_of(layout(17, 8)?) == Some(1), "17 bytes: class 32");
    ensure!(
        class_of(layout(LARGEST_CLASS, 8)?) == Some(5),
        "512 bytes: class 512"
    );
    ensure!(
        class_of(layout(LARGEST_CLASS + 1, 8)?).is_none(),
        "513 bytes: no class"
    );
    ensure!(class_of(layout(8, 32)?).is_none(), "alignment 32: no class");
    x86_64::instructions::interrupts::without_interrupts(|| {
        let count = 2 * CACHED_PER_CLASS;
        // 32-byte blocks (class 32) and 40-byte blocks (class 64), each filled with its own
        // value; the holders are made first and emptied, not freed, so that only the class
        // blocks move the counts.
        let mut blocks: Vec<Box<[u128; 2]>> = Vec::with_capacity(count);
        let mut bytes: Vec<Box<[u8; 40]>> = Vec::with_capacity(count);
        let used_before = heap::used_bytes();
        for index in 0..count {
            blocks.push(Box::new([index as u128; 2]));
            bytes.push(Box::new([index as u8; 40]));
        }
        for (index, (block, byte)) in blocks.iter().zip(&bytes).enumerate() {
            ensure!(
                (block.as_ptr() as usize).is_multiple_of(16)
                    && (byte.as_ptr() as usize).is_multiple_of(16),
                "a class block is not 16-aligned"
            );
            ensure!(
                block.iter().all(|value| *value == index as u128)
                    && byte.iter().all(|value| *value == index as u8),
                "class blocks overlap"
            );
        }
        let cached_full = heap::cached_bytes();
        blocks.clear();
        let cached_after_free = heap::cached_bytes();
        ensure!(
            cached_after_free - cached_full == CACHED_PER_CLASS * 32,
            "class 32: {} bytes kept, expected {}",
            cached_after_free - cached_full,
            CACHED_PER_CLASS * 32
        );
        bytes.clear();
        ensure!(
            heap::cached_bytes() - cached_after_free == CACHED_PER_CLASS * 64,
            "class 64: the cache keeps more or less than its bound"
        );
        ensure!(
            heap::used_bytes() == used_before,
            "used bytes {} after freeing everything, {} before",
            heap::used_bytes(),
            used_before
        );
        let cached = heap::cached_bytes();
        let again = Box::new([7u8; 33]);
        ensure!(
            cached - heap::cached_bytes() == 64 && again[32] == 7,
            "a class allocation did not take a cached block"
        );
        Ok(())
    })
}
kernel_test!(
    heap_size_classes_reuse_within_bounds,
    heap_size_classes_reuse_within_bounds
);

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
        let sample = pages.read_u64(8 * 4096).ok_or("page 8 unreadable")?;
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

/// Device-memory views refuse RAM the kernel owns (issue 12: they were safe over any
/// physical address, so safe code could get a volatile, writable view of the heap or of a
/// ring's pages): the window view, a fresh uncached mapping and the register block over it.
fn device_views_refuse_kernel_ram() -> TestResult {
    use crate::memory::registers::RegisterBlock;
    let pages = ContiguousPages::allocate_zeroed(1).map_err(|_| "allocation failed")?;
    let ring = pages.physical_address();
    let heap = paging::translate(VirtAddr::new(memory::HEAP_START)).ok_or("heap unmapped")?;
    for (what, physical) in [("allocated pages", ring), ("the heap", heap)] {
        ensure!(
            memory::is_kernel_ram(physical, 8),
            "{what} not seen as kernel RAM"
        );
        ensure!(
            RegisterBlock::in_window(physical, 8).is_none(),
            "a window view of {what} was given"
        );
        ensure!(
            RegisterBlock::map_device(physical, 4096).is_err(),
            "an uncached mapping of {what} was made"
        );
        ensure!(
            memory::map_mmio(physical, 8) == Err(memory::MapError::KernelMemory),
            "map_mmio of {what} was not refused"
        );
    }
    // Nor is kernel RAM lent to a process as a borrowed view.
    let mut space = crate::arch::address_space::AddressSpace::new().map_err(|_| "no space")?;
    ensure!(
        space
            .map_view(
                ring.as_u64(),
                4096,
                true,
                false,
                crate::arch::address_space::MemoryType::WriteBack
            )
            .is_err(),
        "kernel RAM was mapped into a process as a view"
    );
    drop(space);
    // Device memory is still reachable: the local APIC's page is not RAM.
    ensure!(
        !memory::is_kernel_ram(x86_64::PhysAddr::new(0xfee0_0000), 4096),
        "the local APIC's page was taken for RAM"
    );
    ensure!(pages.read_u64(0) == Some(0), "own pages unreadable");
    ensure!(
        pages.write_u64(8, 7) && pages.read_u64(8) == Some(7),
        "own pages unwritable"
    );
    ensure!(
        pages.read_u64(4096).is_none() && pages.read_u64(3).is_none(),
        "access outside or misaligned admitted"
    );
    Ok(())
}
kernel_test!(
    device_views_refuse_kernel_ram,
    device_views_refuse_kernel_ram
);

/// `PhysicalMemory` (the safe `GuestMemory` the VMBus and dxg code use) reaches only RAM the
/// kernel may lend to the host: live `ContiguousPages`, not the heap, and no longer pages once
/// they are freed (issue 12: it reached all RAM, so safe code could write the heap).
fn physical_memory_reaches_only_lendable_pages() -> TestResult {
    use crate::hypervisor::physical_memory::PhysicalMemory;
    use hyperv::memory::GuestMemory;
    let memory = PhysicalMemory::of_this_guest().ok_or("no boot memory map")?;
    let heap = paging::translate(VirtAddr::new(memory::HEAP_START)).ok_or("heap unmapped")?;
    ensure!(
        memory.read_u64(heap.as_u64()).is_err(),
        "the heap is readable through PhysicalMemory"
    );
    let pages = ContiguousPages::allocate_zeroed(2).map_err(|_| "allocation failed")?;
    let base = pages.physical_address().as_u64();
    ensure!(memory.write_u64(base + 8, 42).is_ok(), "live pages refused");
    ensure!(
        pages.read_u64(8) == Some(42),
        "the write did not reach the pages"
    );
    // A second access takes the remembered range (`memory::is_lendable`'s last hits).
    ensure!(
        memory.read_u64(base + 8) == Ok(42),
        "the remembered pages refused"
    );
    let mut straddling = [0u8; 16];
    ensure!(
        memory.read(base + 2 * 4096 - 8, &mut straddling).is_err(),
        "a read past the end of the pages admitted"
    );
    // Two allocations in turn (both remembered): each is admitted, and freeing one forgets
    // it without refusing the other.
    let other = ContiguousPages::allocate_zeroed(1).map_err(|_| "allocation failed")?;
    let other_base = other.physical_address().as_u64();
    for round in 0..3u64 {
        ensure!(
            memory.write_u64(other_base, round).is_ok() && memory.read_u64(base + 8) == Ok(42),
            "alternating accesses to two live allocations refused"
        );
    }
    drop(other);
    ensure!(
        memory.read_u64(other_base).is_err() && memory.read_u64(base + 8) == Ok(42),
        "after freeing one of two allocations: the freed one reachable or the live one refused"
    );
    drop(pages);
    ensure!(
        memory.read_u64(base).is_err() && memory.read_u64(base + 8).is_err(),
        "freed pages still reachable (a remembered range outlived its pages)"
    );
    Ok(())
}
kernel_test!(
    physical_memory_reaches_only_lendable_pages,
    physical_memory_reaches_only_lendable_pages
);

/// User copies (`AddressSpace::read`, `read_with`, `write`) translate each page once and
/// still refuse what they must: a range inside one page needs that page present, user and
/// (for writes and in/out reads) writable; a range crossing into a missing or read-only page
/// fails before anything is copied; addresses at and past the user limit fail.
fn user_copies_check_every_page_once() -> TestResult {
    use crate::arch::address_space::{AddressSpace, USER_END, UserPageAccess};
    let mut space = AddressSpace::new().map_err(|_| "no space")?;
    let base = 0x50_0000u64;
    let writable = UserPageAccess {
        writable: true,
        executable: false,
    };
    space.map_zeroed(base, writable).map_err(|_| "map")?;
    space
        .map_zeroed(base + 0x1000, UserPageAccess::default())
        .map_err(|_| "map read-only")?;
    space
        .map_zeroed(USER_END - 0x1000, writable)
        .map_err(|_| "map last page")?;
    // Inside one writable page: both ways, and as an in/out struct.
    space.write(base + 8, &[1, 2, 3, 4]).map_err(|_| "write")?;
    let mut four = [0u8; 4];
    space
        .read_with(base + 8, &mut four, true)
        .map_err(|_| "in/out read")?;
    ensure!(four == [1, 2, 3, 4], "read back {four:?}");
    // Inside the read-only page: readable, not writable, not an in/out struct.
    ensure!(
        space.read(base + 0x1008, &mut four).is_ok(),
        "read-only read"
    );
    ensure!(
        space.write(base + 0x1008, &four).is_err(),
        "a write to a read-only page"
    );
    ensure!(
        space.read_with(base + 0x1008, &mut four, true).is_err(),
        "an in/out read of a read-only page"
    );
    // Crossing from the writable page into the read-only one: the write fails whole.
    ensure!(
        space.write(base + 0xffe, &[9, 9, 9, 9]).is_err(),
        "a write crossing into a read-only page"
    );
    let mut two = [0u8; 2];
    space.read(base + 0xffe, &mut two).map_err(|_| "read")?;
    ensure!(
        two == [0, 0],
        "a failed write changed the first page: {two:?}"
    );
    // Crossing into an unmapped page, both ways.
    ensure!(
        space.read(base + 0x1ffe, &mut four).is_err(),
        "a read crossing into an unmapped page"
    );
    ensure!(
        space.write(base - 2, &four).is_err(),
        "a write starting in an unmapped page"
    );
    // The last user page: up to its end, never past it.
    space
        .write(USER_END - 4, &four)
        .map_err(|_| "last page write")?;
    ensure!(
        space.read(USER_END - 2, &mut four).is_err(),
        "a read past the user limit"
    );
    ensure!(
        space.read(USER_END, &mut two).is_err() && space.read(u64::MAX - 1, &mut two).is_err(),
        "a read at or past the user limit"
    );
    ensure!(
        space.read(base + 0x2000, &mut []).is_ok(),
        "an empty read is checked for nothing"
    );
    Ok(())
}
kernel_test!(
    user_copies_check_every_page_once,
    user_copies_check_every_page_once
);

/// The user page the address-space tests below map, and the access they map it with.
const TEST_PAGE: u64 = 0x60_0000;
const WRITABLE: crate::arch::address_space::UserPageAccess =
    crate::arch::address_space::UserPageAccess {
        writable: true,
        executable: false,
    };

/// A fresh address space with [`TEST_PAGE`] mapped writable and zeroed.
fn space_with_test_page() -> Result<crate::arch::address_space::AddressSpace, &'static str> {
    let mut space = crate::arch::address_space::AddressSpace::new().map_err(|_| "no space")?;
    space.map_zeroed(TEST_PAGE, WRITABLE).map_err(|_| "map")?;
    Ok(space)
}

/// The translation an address space remembers (`AddressSpace::translate`) never outlives a
/// change of its tables: after a page's access narrows, or the page goes, the next copy sees
/// the change, even right after a copy through that page.
fn remembered_translation_follows_changes() -> TestResult {
    use crate::arch::address_space::UserPageAccess;
    let (page, writable) = (TEST_PAGE, WRITABLE);
    let mut space = space_with_test_page()?;
    space.write(page + 8, &[5; 4]).map_err(|_| "write")?;
    ensure!(
        space.translate(page + 8, true).is_some(),
        "a writable page refused a write"
    );
    // Read-only now: the write that worked a moment ago fails.
    space
        .set_owned_access(page, Some(UserPageAccess::default()))
        .map_err(|_| "narrow")?;
    ensure!(
        space.write(page + 8, &[6; 4]).is_err(),
        "a write went through a remembered writable translation"
    );
    let mut four = [0u8; 4];
    space.read(page + 8, &mut four).map_err(|_| "read")?;
    ensure!(four == [5; 4], "read back {four:?}");
    // Gone: the read that worked a moment ago fails.
    ensure!(space.unmap_owned(page), "unmap");
    ensure!(
        space.read(page + 8, &mut four).is_err() && space.translate(page, false).is_none(),
        "a read went through a remembered translation of an unmapped page"
    );
    // Mapped again (a fresh frame): copies reach the new page, zeroed.
    space.map_zeroed(page, writable).map_err(|_| "map again")?;
    space.read(page + 8, &mut four).map_err(|_| "read again")?;
    ensure!(four == [0; 4], "the new page reads {four:?}, not zeroes");
    Ok(())
}
kernel_test!(
    remembered_translation_follows_changes,
    remembered_translation_follows_changes
);

/// Frames handed out by `AddressSpace::owned_frames` (an existing-system-memory GPU
/// allocation: the host reads and writes them in place) stay allocated while the address space
/// lives, as its doc and docs/d3dkmt.md promise ("kept for the process's life"), even if the
/// process unmaps the page (`munmap` reaches `unmap_owned`): otherwise the
/// frame goes back to the allocator, is reused by the kernel, and the host still writes it.
/// Dropping the address space frees it.
fn lent_frames_outlive_an_unmap() -> TestResult {
    let page = TEST_PAGE;
    // Maps one page, lends it (or not), unmaps it; returns (frames freed by the unmap, frames
    // freed by dropping the address space).
    let map_lend_unmap = |lend: bool| -> Result<(usize, usize), &'static str> {
        let mut space = space_with_test_page()?;
        if lend {
            let lent = space.owned_frames(page, 4096).map_err(|_| "owned_frames")?;
            if lent.len() != 1 {
                return Err("owned_frames gave not one frame");
            }
        }
        let before_unmap = memory::free_frames();
        if !space.unmap_owned(page) {
            return Err("unmap");
        }
        let before_drop = memory::free_frames();
        drop(space);
        let after_drop = memory::free_frames();
        Ok((
            before_drop.saturating_sub(before_unmap),
            after_drop.saturating_sub(before_drop),
        ))
    };
    let (unmap_plain, drop_plain) = map_lend_unmap(false)?;
    let (unmap_lent, drop_lent) = map_lend_unmap(true)?;
    ensure!(
        unmap_plain == 1,
        "unmapping a page that was never lent freed {unmap_plain} frames, not 1"
    );
    ensure!(
        unmap_lent == 0,
        "the frame lent to the device went back to the allocator while the address space lives"
    );
    // Kept, not leaked: the address space's end frees it with its tables.
    ensure!(
        drop_lent == drop_plain + 1,
        "dropping the address space freed {drop_lent} frames, against {drop_plain} without the \
         lent one"
    );
    Ok(())
}
kernel_test!(lent_frames_outlive_an_unmap, lent_frames_outlive_an_unmap);

/// `mprotect(PROT_NONE)` (`set_owned_access(page, None)`) takes the page away from ring 3 and
/// from the kernel's user copies, and keeps its frame and contents: the access given back
/// later finds the same bytes, as on Linux. (It used to unmap the page, so the contents were
/// lost and a lent frame went on being written behind a fresh page.)
fn no_access_keeps_the_contents() -> TestResult {
    let (page, writable) = (TEST_PAGE, WRITABLE);
    let mut space = space_with_test_page()?;
    space.write(page + 8, &[7; 4]).map_err(|_| "write")?;
    let frame = space.translate(page, false).ok_or("no frame")?;
    let free_before = memory::free_frames();
    space
        .set_owned_access(page, None)
        .map_err(|_| "no access")?;
    let mut four = [0u8; 4];
    ensure!(
        space.read(page + 8, &mut four).is_err() && space.check(page, 1, false).is_err(),
        "a page without access was readable through the kernel's user copies"
    );
    ensure!(
        space.owned_frames(page, 4096).is_err(),
        "a page without access was lent to a device"
    );
    ensure!(
        memory::free_frames() == free_before,
        "taking the access away freed or took frames"
    );
    space
        .set_owned_access(page, Some(writable))
        .map_err(|_| "access again")?;
    space.read(page + 8, &mut four).map_err(|_| "read again")?;
    ensure!(
        four == [7; 4],
        "the page reads {four:?} after its access came back"
    );
    ensure!(
        space.translate(page, true) == Some(frame),
        "the page came back on another frame"
    );
    // A page never mapped has nothing to keep: `None` is refused for it, as any access is.
    ensure!(
        space.set_owned_access(page + 4096, None).is_err(),
        "no access was set on an unmapped page"
    );
    // What mprotect(PROT_NONE) does first: a page with contents is kept ...
    ensure!(
        !space.unmap_owned_if_zero(page),
        "a page with contents was released"
    );
    // ... a page of zeros goes with its frame (a guard page holds none) ...
    let zeros = page + 0x2000;
    space.map_zeroed(zeros, writable).map_err(|_| "map zeros")?;
    let free = memory::free_frames();
    ensure!(space.unmap_owned_if_zero(zeros), "a page of zeros was kept");
    ensure!(
        memory::free_frames() == free + 1 && space.translate(zeros, false).is_none(),
        "the page of zeros was not unmapped and freed"
    );
    // ... unless the device was lent its frame.
    space
        .map_zeroed(zeros, writable)
        .map_err(|_| "map zeros again")?;
    space.owned_frames(zeros, 4096).map_err(|_| "lend")?;
    ensure!(
        !space.unmap_owned_if_zero(zeros),
        "a lent page of zeros was released"
    );
    Ok(())
}
kernel_test!(no_access_keeps_the_contents, no_access_keeps_the_contents);

/// A `Root` whose address space is gone refuses to activate even when CR3 holds its old frame
/// again: the frame, freed with the address space, became another address space's level-4
/// table (same physical frame, so the same `PhysFrame`). A fast path that took "CR3 holds the
/// frame" for "alive" would report success, and a thread holding such a handle would enter
/// ring 3 in the other process's address space. (The frame allocator hands a freed frame back
/// first, which this test checks rather than assumes.)
fn stale_root_refused_when_its_frame_is_reused() -> TestResult {
    use crate::arch::address_space::{AddressSpace, activate_kernel};
    use alloc::format;
    let first = AddressSpace::new().map_err(|_| "no space")?;
    let stale = first.root();
    drop(first);
    let second = AddressSpace::new().map_err(|_| "no second space")?;
    let live = second.root();
    let reused = format!("{live:?}") == format!("{stale:?}");
    let live_active = live.activate();
    let stale_active = stale.activate();
    activate_kernel();
    drop(second);
    ensure!(
        reused,
        "the allocator did not hand the freed level-4 frame back ({stale:?}, then {live:?}): the \
         case this test needs did not arise"
    );
    ensure!(live_active, "the live address space did not activate");
    ensure!(
        !stale_active,
        "a Root whose address space is gone activated (CR3 held its frame, now another address \
         space's table)"
    );
    Ok(())
}
kernel_test!(
    stale_root_refused_when_its_frame_is_reused,
    stale_root_refused_when_its_frame_is_reused
);
