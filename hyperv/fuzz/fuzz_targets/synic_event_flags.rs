//! Fuzzes [`hyperv::synic::take_event_flags`], the guest's scan of the SynIC event-flags page
//! the host sets bits in: arbitrary page contents, any SINT, sometimes any page address.
//!
//! Checks: no panic; for a slot inside memory the result is exactly the slot's bits (via
//! `contains`, `iter` in increasing order and `is_empty`), the slot is cleared afterwards, and
//! nothing outside the slot changes; flags at or above 2048 are never reported.
#![no_main]

use hyperv::memory::{AtomicMemory, GuestMemory};
use hyperv::synic::{
    EVENT_FLAGS_PER_SINT, EVENT_FLAGS_SLOT_SIZE, event_flags_slot_gpa, take_event_flags,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const SIEFP: u64 = 0x1000;
const MEMORY_SIZE: usize = 0x3000;

fn snapshot(memory: &AtomicMemory) -> Vec<u8> {
    let mut bytes = vec![0; MEMORY_SIZE];
    memory.read(0, &mut bytes).unwrap();
    bytes
}

fn run(input: &mut Unstructured) -> Result<()> {
    let memory = AtomicMemory::new(0, MEMORY_SIZE);
    let sint: u8 = input.arbitrary()?;
    let siefp = if input.arbitrary()? {
        input.arbitrary()?
    } else {
        SIEFP
    };
    // The rest is the page (and a little beyond).
    let page = input.bytes(input.len().min(0x1000 + 16))?;
    memory.write(SIEFP, page).unwrap();
    let before = snapshot(&memory);
    let result = take_event_flags(&memory, siefp, sint);

    let slot = siefp.checked_add(u64::from(sint) * EVENT_FLAGS_SLOT_SIZE);
    let in_range = slot.is_some_and(|slot| {
        slot % 4 == 0
            && slot
                .checked_add(EVENT_FLAGS_SLOT_SIZE)
                .is_some_and(|end| end <= 0x3000)
    });
    if !in_range {
        return Ok(());
    }
    let start = event_flags_slot_gpa(siefp, sint) as usize;
    let bits = &before[start..start + EVENT_FLAGS_SLOT_SIZE as usize];
    let flags = result.expect("a slot inside memory is readable");
    let expected: Vec<u32> = (0..EVENT_FLAGS_PER_SINT)
        .filter(|flag| bits[(flag / 8) as usize] & (1 << (flag % 8)) != 0)
        .collect();
    assert_eq!(flags.iter().collect::<Vec<_>>(), expected);
    assert_eq!(flags.is_empty(), expected.is_empty());
    for flag in 0..EVENT_FLAGS_PER_SINT + 64 {
        assert_eq!(flags.contains(flag), expected.contains(&flag));
    }

    let mut after = before.clone();
    after[start..start + EVENT_FLAGS_SLOT_SIZE as usize].fill(0);
    assert_eq!(
        snapshot(&memory),
        after,
        "only the slot may change, to zero"
    );
    assert!(take_event_flags(&memory, siefp, sint).unwrap().is_empty());
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
