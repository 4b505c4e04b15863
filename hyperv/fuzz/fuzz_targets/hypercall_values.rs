//! Fuzzes the hypercall value decoders: the input value (RCX, decoded by a host), the output
//! value (RAX, decoded by the guest), status codes, the fast HvSignalEvent register and the
//! HvPostMessage input block read from guest memory.
//!
//! Checks: no panic; `HypercallInput::from_bits` accepts exactly the values with reserved
//! bits clear and then round-trips; status codes map to one typed result and back; RAX's
//! fields are the bit ranges of the reference; the fast register and the 8 input bytes agree.
#![no_main]

use hyperv::hypercall::{
    HypercallInput, HypercallOutput, POST_MESSAGE_MAX_PAYLOAD, PostMessageInput, SignalEventInput,
};
use hyperv::status::{HvError, HvStatus};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use zerocopy::{FromBytes, IntoBytes};

const RESERVED: u64 = (0xF << 27) | (0xF << 44) | (0xF << 60);

fn run(input: &mut Unstructured) -> Result<()> {
    let rcx: u64 = input.arbitrary()?;
    match HypercallInput::from_bits(rcx) {
        Ok(decoded) => {
            assert_eq!(rcx & RESERVED, 0);
            assert_eq!(decoded.to_bits(), rcx);
            assert_eq!(decoded.call_code, rcx as u16);
            assert_eq!(decoded.fast, rcx & (1 << 16) != 0);
        }
        Err(error) => {
            assert_ne!(rcx & RESERVED, 0);
            assert_eq!(error, HvError::InvalidHypercallInput);
        }
    }

    let rax: u64 = input.arbitrary()?;
    let output = HypercallOutput(rax);
    let status = output.status();
    assert_eq!(status.0, rax as u16);
    assert_eq!(output.reps_completed(), ((rax >> 32) & 0xFFF) as u16);
    let result = output.result();
    assert_eq!(result.is_ok(), status == HvStatus::SUCCESS);
    assert_eq!(HvStatus::from_result(result), status);
    if let Err(error) = result {
        assert_eq!(error.code(), status.0);
        assert_eq!(HvError::from_code(status.0), Some(error));
        assert_eq!(HvStatus::from(error), status);
        let _ = error.is_transient_for_post_message();
        assert!(!error.to_string().is_empty());
    }
    let rebuilt = HypercallOutput::new(status, output.reps_completed());
    assert_eq!(rebuilt.0, rax & 0x0FFF_0000_FFFF);

    let rdx: u64 = input.arbitrary()?;
    let signal = SignalEventInput::from_fast_register(rdx);
    assert_eq!(signal.to_fast_register(), rdx);
    assert_eq!(signal.as_bytes(), &rdx.to_le_bytes());

    let block = input.bytes(input.len().min(size_of::<PostMessageInput>()))?;
    if let Ok(post) = PostMessageInput::read_from_bytes(block) {
        // What a host does with the block: bound the payload by the declared size.
        let declared = post.payload_size as usize;
        match post.payload.get(..declared) {
            Some(payload) => {
                assert!(declared <= POST_MESSAGE_MAX_PAYLOAD);
                let rebuilt = PostMessageInput::new(post.connection_id, post.message_type, payload)
                    .expect("a declared size within 240 bytes rebuilds");
                assert_eq!(rebuilt.payload_size, post.payload_size);
                assert_eq!(&rebuilt.payload[..declared], payload);
            }
            None => assert!(declared > POST_MESSAGE_MAX_PAYLOAD),
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
