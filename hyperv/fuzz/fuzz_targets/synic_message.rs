//! Fuzzes [`hyperv::synic::take_message`], the guest's reader of the SynIC message page the
//! host writes: arbitrary page contents, any SINT, and sometimes any page address.
//!
//! Checks: no panic; an empty slot (type 0) is `None` and leaves memory alone; otherwise the
//! copy matches the slot byte for byte, `payload()` is exactly the declared bytes or a
//! `MalformedMessage` when more than 240 are declared, EOM is asked for exactly when
//! MessagePending is set, the slot is released (type 0) and nothing else in memory changes.
#![no_main]

use hyperv::memory::{AtomicMemory, GuestMemory};
use hyperv::synic::{
    MESSAGE_PAYLOAD_SIZE, MESSAGE_SIZE, MalformedMessage, MessageType, message_slot_gpa,
    take_message,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const SIMP: u64 = 0x1000;
const MEMORY_SIZE: usize = 0x3000;

fn snapshot(memory: &AtomicMemory) -> Vec<u8> {
    let mut bytes = vec![0; MEMORY_SIZE];
    memory.read(0, &mut bytes).unwrap();
    bytes
}

fn run(input: &mut Unstructured) -> Result<()> {
    let memory = AtomicMemory::new(0, MEMORY_SIZE);
    let sint: u8 = input.arbitrary()?;
    let simp = if input.arbitrary()? {
        input.arbitrary()?
    } else {
        SIMP
    };
    // The rest is the page (and a little beyond).
    let page = input.bytes(input.len().min(0x1000 + 16))?;
    memory.write(SIMP, page).unwrap();
    let before = snapshot(&memory);
    let result = take_message(&memory, simp, sint);

    let slot = simp.checked_add(u64::from(sint) * MESSAGE_SIZE);
    let in_range = slot.is_some_and(|slot| {
        slot % 4 == 0
            && slot
                .checked_add(MESSAGE_SIZE)
                .is_some_and(|end| end <= 0x3000)
    });
    if !in_range {
        // Outside memory or misaligned: an error or, if the type word was readable and 0,
        // an empty slot; never a panic.
        return Ok(());
    }
    let slot = message_slot_gpa(simp, sint);
    let start = slot as usize;
    let original = &before[start..start + MESSAGE_SIZE as usize];
    let taken = result.expect("a slot inside memory is readable");
    let message_type = u32::from_le_bytes(original[0..4].try_into().unwrap());
    let Some(taken) = taken else {
        assert_eq!(message_type, 0);
        assert_eq!(snapshot(&memory), before);
        return Ok(());
    };
    assert_ne!(message_type, 0);
    let message = taken.message;
    assert_eq!(message.message_type, MessageType(message_type));
    assert_eq!(message.declared_payload_size, original[4]);
    assert_eq!(
        message.origin,
        u64::from_le_bytes(original[8..16].try_into().unwrap())
    );
    assert_eq!(&message.payload_area[..], &original[16..]);
    let declared = usize::from(original[4]);
    if declared <= MESSAGE_PAYLOAD_SIZE {
        assert_eq!(message.payload(), Ok(&original[16..16 + declared]));
    } else {
        assert_eq!(
            message.payload(),
            Err(MalformedMessage {
                declared_payload_size: original[4]
            })
        );
    }
    assert_eq!(taken.end_of_message_required, original[5] & 1 == 1);

    let mut expected = before.clone();
    expected[start..start + 4].fill(0);
    assert_eq!(snapshot(&memory), expected, "only the type word may change");
    assert_eq!(take_message(&memory, simp, sint), Ok(None));
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
