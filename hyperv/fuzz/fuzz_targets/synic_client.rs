//! Fuzzes [`SynicClient`] against a hostile hypervisor: every MSR read returns a scripted
//! value (or #GP, or the link fails), every hypercall a scripted RAX, and the host scribbles
//! arbitrary bytes into the message and event-flags pages between the guest's polls. The
//! guest brings the SynIC up, then runs an arbitrary sequence of posts, signals, polls and
//! scans, and shuts down.
//!
//! Checks: no panic; bring-up fails cleanly unless HYPERCALL reads back enabled at the
//! chosen page; a post with more than 240 bytes or an unpostable type never reaches the
//! hypervisor; a post or signal succeeds exactly when RAX's status is 0; polling an invalid
//! SINT is an error; EOM is written exactly when a taken message had MessagePending set.
#![no_main]

use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::memory::{AtomicMemory, GuestMemory};
use hyperv::msr::{self, PageMsr};
use hyperv::platform::{BumpPageAllocator, HypervisorBackend, PlatformError};
use hyperv::status::HvStatus;
use hyperv::synic::{MessageType, SINT_COUNT, event_flags_slot_gpa, message_slot_gpa};
use hyperv::synic_client::{SynicClient, SynicConfig, SynicError};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

/// What the hypervisor will answer, and what the guest did.
#[derive(Default)]
struct Script {
    answers: Vec<u8>,
    cursor: usize,
    hypercalls: u64,
    end_of_message_writes: u64,
    last_hypercall_output: Option<u64>,
}

impl Script {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.answers.get(self.cursor..self.cursor + N)?;
        self.cursor += N;
        bytes.try_into().ok()
    }
}

struct HostileBackend {
    script: Rc<RefCell<Script>>,
    written: HashMap<u32, u64>,
    last_read: HashMap<u32, u64>,
}

impl HypervisorBackend for HostileBackend {
    fn write_msr(&mut self, msr: u32, value: u64) -> std::result::Result<(), PlatformError> {
        let mut script = self.script.borrow_mut();
        if msr == msr::EOM {
            script.end_of_message_writes += 1;
        }
        match script.take::<1>().map(|[byte]| byte % 8) {
            None => Err(PlatformError::LinkFailure),
            Some(0) => Err(PlatformError::GeneralProtection { msr }),
            Some(_) => {
                self.written.insert(msr, value);
                Ok(())
            }
        }
    }

    fn read_msr(&mut self, msr: u32) -> std::result::Result<u64, PlatformError> {
        let mut script = self.script.borrow_mut();
        let value = match script.take::<1>().map(|[byte]| byte % 4) {
            None => Err(PlatformError::LinkFailure),
            Some(0) => Err(PlatformError::GeneralProtection { msr }),
            // A well-behaved host: the last value written.
            Some(1 | 2) => Ok(self.written.get(&msr).copied().unwrap_or(0)),
            Some(_) => script
                .take::<8>()
                .map(u64::from_le_bytes)
                .ok_or(PlatformError::LinkFailure),
        }?;
        self.last_read.insert(msr, value);
        Ok(value)
    }

    fn hypercall(
        &mut self,
        _input: HypercallInput,
        _input_parameter: u64,
        _output_parameter: u64,
    ) -> std::result::Result<HypercallOutput, PlatformError> {
        let mut script = self.script.borrow_mut();
        script.hypercalls += 1;
        script.last_hypercall_output = None;
        let [kind] = script.take::<1>().ok_or(PlatformError::LinkFailure)?;
        let output = match kind % 4 {
            0 => return Err(PlatformError::LinkFailure),
            1 | 2 => 0,
            _ => script
                .take::<8>()
                .map(u64::from_le_bytes)
                .ok_or(PlatformError::LinkFailure)?,
        };
        script.last_hypercall_output = Some(output);
        Ok(HypercallOutput(output))
    }

    fn vp_index(&self) -> u32 {
        0
    }
}

const MEMORY_SIZE: usize = 0x10_0000;

fn run(input: &mut Unstructured) -> Result<()> {
    let answers_length = input.arbitrary_len::<u8>()?.min(4096);
    let script = Rc::new(RefCell::new(Script {
        answers: input.bytes(answers_length)?.to_vec(),
        ..Script::default()
    }));
    let backend = HostileBackend {
        script: Rc::clone(&script),
        written: HashMap::new(),
        last_read: HashMap::new(),
    };
    let memory = Arc::new(AtomicMemory::new(0, MEMORY_SIZE));
    let mut pages = BumpPageAllocator::new(0x1000, MEMORY_SIZE as u64);
    let mut config = SynicConfig::vmbus(input.arbitrary()?);
    config.sint = input.int_in_range(0..=17)?;
    config.auto_eoi = input.arbitrary()?;
    let mut client = match SynicClient::initialize(backend, Arc::clone(&memory), &mut pages, config)
    {
        Ok(client) => client,
        Err(error) => {
            if config.sint >= SINT_COUNT || config.vector < 16 {
                assert_eq!(error, SynicError::InvalidConfig);
            }
            return Ok(());
        }
    };
    let pages_in_use = client.pages();
    let readback = PageMsr::from_bits(client.backend().last_read[&msr::HYPERCALL]);
    assert!(readback.enabled() && readback.gpa() == pages_in_use.hypercall);

    while !input.is_empty() {
        match input.int_in_range(0..=6u8)? {
            0 => {
                let length = input.int_in_range(0..=250usize)?;
                let payload = input.bytes(length)?.to_vec();
                let message_type = MessageType(if input.arbitrary()? {
                    1
                } else {
                    input.arbitrary()?
                });
                script.borrow_mut().last_hypercall_output = None;
                let before = script.borrow().hypercalls;
                let result = client.post_message(input.arbitrary()?, message_type, &payload);
                let after = script.borrow().hypercalls;
                if length > 240 || !message_type.is_postable() {
                    assert!(result.is_err());
                    assert_eq!(before, after, "an invalid post reached the hypervisor");
                } else {
                    check_hypercall_result(&script, result);
                }
            }
            1 => {
                script.borrow_mut().last_hypercall_output = None;
                let result = client.signal_event(input.arbitrary()?, input.arbitrary()?);
                check_hypercall_result(&script, result);
            }
            2 | 3 => {
                let sint: u8 = input.int_in_range(0..=17)?;
                let slot = message_slot_gpa(pages_in_use.messages, sint.min(15));
                let pending = {
                    let mut flags = [0u8; 1];
                    memory.read(slot + 5, &mut flags).unwrap();
                    flags[0] & 1 == 1 && memory.load_u32(slot).unwrap() != 0
                };
                let before = script.borrow().end_of_message_writes;
                let result = client.poll_message(sint);
                let after = script.borrow().end_of_message_writes;
                if sint >= SINT_COUNT {
                    assert_eq!(result, Err(SynicError::InvalidSint(sint)));
                    assert_eq!(before, after);
                } else {
                    assert_eq!(after - before, u64::from(pending));
                    if let Ok(Some(message)) = result {
                        assert_ne!(message.message_type, MessageType::NONE);
                        let _ = message.payload();
                    }
                }
            }
            4 => {
                let sint: u8 = input.int_in_range(0..=17)?;
                let result = client.fired_event_flags(sint);
                if sint >= SINT_COUNT {
                    assert_eq!(result, Err(SynicError::InvalidSint(sint)));
                } else {
                    let flags = result.expect("the SIEF page is in memory");
                    assert!(flags.iter().all(|flag| flag < 2048));
                }
            }
            5 => {
                // The host writes a message slot.
                let sint: u8 = input.int_in_range(0..=15)?;
                let length = input.int_in_range(0..=256usize)?;
                let bytes = input.bytes(length)?;
                memory
                    .write(message_slot_gpa(pages_in_use.messages, sint), bytes)
                    .unwrap();
            }
            _ => {
                // The host sets event flags.
                let sint: u8 = input.int_in_range(0..=15)?;
                let length = input.int_in_range(0..=256usize)?;
                let bytes = input.bytes(length)?;
                memory
                    .write(event_flags_slot_gpa(pages_in_use.event_flags, sint), bytes)
                    .unwrap();
            }
        }
    }
    let _ = client.shutdown(&mut pages);
    Ok(())
}

/// A post or signal succeeds exactly when the hypervisor answered RAX with status 0.
fn check_hypercall_result(
    script: &Rc<RefCell<Script>>,
    result: std::result::Result<(), SynicError>,
) {
    match script.borrow().last_hypercall_output {
        Some(output) => {
            let status = HypercallOutput(output).status();
            assert_eq!(result.is_ok(), status == HvStatus::SUCCESS, "{result:?}");
            if let Err(error) = result {
                assert_eq!(error, SynicError::Hypervisor(status.result().unwrap_err()));
            }
        }
        None => assert!(result.is_err()),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
