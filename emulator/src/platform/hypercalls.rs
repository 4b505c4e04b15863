//! Hypercall handling of [`SynicHost`]: HvPostMessage and HvSignalEvent with the status codes
//! a guest sees on Hyper-V for malformed input (reference §2.4, §2.6, §2.7).

use super::events::HostEvent;
use super::synic_host::SynicHost;
use hyperv::hypercall::{
    BLOCK_ALIGNMENT, CALL_POST_MESSAGE, CALL_SIGNAL_EVENT, CONNECTION_ID_MASK, HypercallInput,
    HypercallOutput, POST_MESSAGE_MAX_PAYLOAD, PostMessageInput, SignalEventInput,
};
use hyperv::memory::{GuestMemory, PAGE_SIZE};
use hyperv::status::HvError;
use hyperv::synic::MessageType;
use zerocopy::FromBytes;

impl SynicHost {
    /// Emulated hypercall from `vp_index`: `input` is RCX, `input_parameter` RDX,
    /// `output_parameter` R8. Returns RAX. Every failure is logged.
    ///
    /// A call before the hypercall page is enabled answers INVALID_HYPERCALL_CODE (on
    /// Hyper-V the guest could not even issue it).
    pub fn hypercall(
        &mut self,
        vp_index: u32,
        input: u64,
        input_parameter: u64,
        output_parameter: u64,
        memory: &dyn GuestMemory,
    ) -> HypercallOutput {
        let result = self.dispatch(vp_index, input, input_parameter, output_parameter, memory);
        if let Err(error) = result {
            log::warn!(
                "hypercall {input:#x} ({input_parameter:#x}, {output_parameter:#x}) from vp \
                 {vp_index}: {error}"
            );
        }
        self.note(|| {
            format!(
                "hypercall vp {vp_index} rcx {input:#x} rdx {input_parameter:#x} r8 \
                 {output_parameter:#x} -> {}",
                result.map_or_else(|error| error.name(), |()| "SUCCESS")
            )
        });
        HypercallOutput::from_result(result)
    }

    fn dispatch(
        &mut self,
        vp_index: u32,
        raw_input: u64,
        input_parameter: u64,
        _output_parameter: u64,
        memory: &dyn GuestMemory,
    ) -> Result<(), HvError> {
        if self.vp(vp_index).is_none() {
            return Err(HvError::InvalidVpIndex);
        }
        if !self.hypercalls_enabled() {
            return Err(HvError::InvalidHypercallCode);
        }
        let input = HypercallInput::from_bits(raw_input)?;
        if let Some(position) = self
            .injected_errors
            .iter()
            .position(|(code, _)| *code == input.call_code)
        {
            let (_, error) = self
                .injected_errors
                .remove(position)
                .unwrap_or((0, HvError::OperationFailed));
            return Err(error);
        }
        match input.call_code {
            CALL_POST_MESSAGE => self.post_message(vp_index, input, input_parameter, memory),
            CALL_SIGNAL_EVENT => self.signal_event(vp_index, input, input_parameter, memory),
            _ => Err(HvError::InvalidHypercallCode),
        }
    }

    fn post_message(
        &mut self,
        vp_index: u32,
        input: HypercallInput,
        gpa: u64,
        memory: &dyn GuestMemory,
    ) -> Result<(), HvError> {
        if input.fast {
            return Err(HvError::InvalidHypercallCode);
        }
        if input.rep_count != 0 || input.variable_header_size != 0 {
            return Err(HvError::InvalidHypercallInput);
        }
        let size = size_of::<PostMessageInput>() as u64;
        if !gpa.is_multiple_of(BLOCK_ALIGNMENT) {
            return Err(HvError::InvalidAlignment);
        }
        if gpa % PAGE_SIZE + size > PAGE_SIZE {
            return Err(HvError::InvalidHypercallInput);
        }
        let mut bytes = [0u8; size_of::<PostMessageInput>()];
        memory
            .read(gpa, &mut bytes)
            .map_err(|_| HvError::InvalidParameter)?;
        let block =
            PostMessageInput::read_from_bytes(&bytes).map_err(|_| HvError::InvalidParameter)?;
        if block.reserved != 0 {
            return Err(HvError::InvalidHypercallInput);
        }
        let message_type = MessageType(block.message_type);
        if !message_type.is_postable() || block.payload_size as usize > POST_MESSAGE_MAX_PAYLOAD {
            return Err(HvError::InvalidParameter);
        }
        let connection_id = block.connection_id & CONNECTION_ID_MASK;
        let buffers = self.config.post_message_buffers;
        if !self.message_connections.contains_key(&connection_id) {
            return Err(HvError::InvalidConnectionId);
        }
        if let Some(error) = self.post_fault() {
            return Err(error);
        }
        let Some(outstanding) = self.message_connections.get_mut(&connection_id) else {
            return Err(HvError::InvalidConnectionId);
        };
        if *outstanding >= buffers {
            return Err(HvError::InsufficientBuffers);
        }
        *outstanding += 1;
        self.events.push_back(HostEvent::Message {
            vp_index,
            connection_id,
            message_type,
            payload: block.payload[..block.payload_size as usize].to_vec(),
        });
        Ok(())
    }

    /// The status an injected [`super::synic_host::PostFaults`] gives this post, if any.
    fn post_fault(&mut self) -> Option<HvError> {
        let faults = &mut self.post_faults;
        let error = if faults.transient > 0 {
            faults.transient -= 1;
            Some(if faults.transient % 2 == 1 {
                HvError::InsufficientBuffers
            } else {
                HvError::InsufficientMemory
            })
        } else {
            faults.permanent
        }?;
        self.injected_post_failures += 1;
        Some(error)
    }

    fn signal_event(
        &mut self,
        vp_index: u32,
        input: HypercallInput,
        input_parameter: u64,
        memory: &dyn GuestMemory,
    ) -> Result<(), HvError> {
        if input.rep_count != 0 || input.variable_header_size != 0 {
            return Err(HvError::InvalidHypercallInput);
        }
        let event = if input.fast {
            SignalEventInput::from_fast_register(input_parameter)
        } else {
            if !input_parameter.is_multiple_of(BLOCK_ALIGNMENT) {
                return Err(HvError::InvalidAlignment);
            }
            let mut bytes = [0u8; size_of::<SignalEventInput>()];
            memory
                .read(input_parameter, &mut bytes)
                .map_err(|_| HvError::InvalidParameter)?;
            SignalEventInput::read_from_bytes(&bytes).map_err(|_| HvError::InvalidParameter)?
        };
        if event.connection_id & !CONNECTION_ID_MASK != 0 || event.reserved != 0 {
            return Err(HvError::InvalidHypercallInput);
        }
        if !self.event_connections.contains_key(&event.connection_id) {
            return Err(HvError::InvalidConnectionId);
        }
        if event.flag_number != 0 {
            return Err(HvError::InvalidPortId);
        }
        self.events.push_back(HostEvent::Signal {
            vp_index,
            connection_id: event.connection_id,
            flag_number: event.flag_number,
        });
        Ok(())
    }
}
