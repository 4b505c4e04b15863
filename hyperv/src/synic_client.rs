//! The guest side of the SynIC on top of [`HypervisorBackend`]: bring-up, HvPostMessage,
//! HvSignalEvent, message polling with the MessagePending/EOM protocol, event-flag scans and
//! teardown. One [`SynicClient`] per virtual processor.
//!
//! It owns four dedicated pages from a [`PageAllocator`]: the hypercall page, the message page
//! (SIMP), the event-flags page (SIEFP) and a page for hypercall input blocks (8-aligned and
//! never crossing a page, as the TLFS requires). Interrupt handling stays outside: the kernel's
//! ISR for the configured vector calls [`SynicClient::fired_event_flags`] and then
//! [`SynicClient::poll_message`] (event flags first, as Windows and Linux do).

use crate::hypercall::{
    CALL_POST_MESSAGE, CALL_SIGNAL_EVENT, HypercallInput, POST_MESSAGE_MAX_PAYLOAD,
    PostMessageInput, SignalEventInput,
};
use crate::memory::{GuestMemory, MemoryError};
use crate::msr::{self, GuestOsId, PageMsr, SControlMsr, SintMsr};
use crate::platform::{HypervisorBackend, OutOfPages, PageAllocator, PagePurpose, PlatformError};
use crate::status::HvError;
use crate::synic::{self, EventFlags, MessageType, ReceivedMessage, SINT_COUNT};
use zerocopy::IntoBytes;

/// How to bring the SynIC up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynicConfig {
    /// Value for GUEST_OS_ID (must be non-zero).
    pub guest_os_id: GuestOsId,
    /// The SINT to program (VMBus: 2).
    pub sint: u8,
    /// Its interrupt vector (16..=255).
    pub vector: u8,
    /// Program the SINT with auto-EOI (off when CPUID recommends against it).
    pub auto_eoi: bool,
}

impl SynicConfig {
    /// dxgos's defaults: our guest OS id, SINT 2, vector 0xF3 as Linux, no auto-EOI.
    pub const fn vmbus(vector: u8) -> Self {
        Self {
            guest_os_id: GuestOsId::DXGOS,
            sint: synic::VMBUS_SINT,
            vector,
            auto_eoi: false,
        }
    }
}

/// Why a SynIC operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynicError {
    /// The backend failed (#GP on an MSR, link failure).
    Platform(PlatformError),
    /// The hypercall returned an error status.
    Hypervisor(HvError),
    /// A shared page could not be accessed.
    Memory(MemoryError),
    /// No page for the SynIC.
    OutOfPages,
    /// The HYPERCALL MSR did not read back enabled.
    HypercallPageNotEnabled,
    /// The configuration is invalid (guest OS id 0, SINT ≥ 16, vector < 16).
    InvalidConfig,
    /// A payload longer than 240 bytes.
    PayloadTooLarge {
        /// The payload length.
        length: usize,
    },
    /// A message type a guest may not post (0 or bit 31 set).
    InvalidMessageType(MessageType),
    /// A SINT number ≥ 16.
    InvalidSint(u8),
}

impl From<PlatformError> for SynicError {
    fn from(error: PlatformError) -> Self {
        SynicError::Platform(error)
    }
}

impl From<MemoryError> for SynicError {
    fn from(error: MemoryError) -> Self {
        SynicError::Memory(error)
    }
}

impl From<HvError> for SynicError {
    fn from(error: HvError) -> Self {
        SynicError::Hypervisor(error)
    }
}

impl From<OutOfPages> for SynicError {
    fn from(_: OutOfPages) -> Self {
        SynicError::OutOfPages
    }
}

/// The guest-physical addresses of the pages a [`SynicClient`] owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynicPages {
    /// The hypercall page.
    pub hypercall: u64,
    /// The message page (SIMP).
    pub messages: u64,
    /// The event-flags page (SIEFP).
    pub event_flags: u64,
    /// The page for hypercall input blocks.
    pub hypercall_input: u64,
}

/// The SynIC of one VP, brought up and ready for VMBus.
pub struct SynicClient<B, M> {
    backend: B,
    memory: M,
    config: SynicConfig,
    pages: SynicPages,
    vp_index: u32,
}

impl<B: HypervisorBackend, M: GuestMemory> SynicClient<B, M> {
    /// Brings the SynIC up in the reference order (§1.11): GUEST_OS_ID; HYPERCALL (read,
    /// set page + enable, write, read back); VP_INDEX; SIMP; SIEFP; the SINT (vector,
    /// unmasked, auto-EOI as configured); SCONTROL enable. Every register is programmed
    /// read-modify-write so reserved bits survive. Install the interrupt handler for
    /// `config.vector` before calling this.
    pub fn initialize<A: PageAllocator>(
        mut backend: B,
        memory: M,
        allocator: &mut A,
        config: SynicConfig,
    ) -> Result<Self, SynicError> {
        if config.guest_os_id.0 == 0
            || config.sint >= SINT_COUNT
            || config.vector < SintMsr::MINIMUM_VECTOR
        {
            return Err(SynicError::InvalidConfig);
        }
        let pages = SynicPages {
            hypercall: allocator.allocate_page(PagePurpose::HypercallCode)?,
            messages: allocator.allocate_page(PagePurpose::SynicMessages)?,
            event_flags: allocator.allocate_page(PagePurpose::SynicEventFlags)?,
            hypercall_input: allocator.allocate_page(PagePurpose::HypercallInput)?,
        };

        backend.write_msr(msr::GUEST_OS_ID, config.guest_os_id.0)?;
        let hypercall = PageMsr::from_bits(backend.read_msr(msr::HYPERCALL)?)
            .with_gpa(pages.hypercall)
            .with_enabled(true);
        backend.write_msr(msr::HYPERCALL, hypercall.bits())?;
        let readback = PageMsr::from_bits(backend.read_msr(msr::HYPERCALL)?);
        if !readback.enabled() || readback.gpa() != pages.hypercall {
            return Err(SynicError::HypercallPageNotEnabled);
        }
        backend.hypercall_page_enabled(pages.hypercall);
        let vp_index = backend.read_msr(msr::VP_INDEX)? as u32;

        let simp = PageMsr::from_bits(backend.read_msr(msr::SIMP)?)
            .with_gpa(pages.messages)
            .with_enabled(true);
        backend.write_msr(msr::SIMP, simp.bits())?;
        let siefp = PageMsr::from_bits(backend.read_msr(msr::SIEFP)?)
            .with_gpa(pages.event_flags)
            .with_enabled(true);
        backend.write_msr(msr::SIEFP, siefp.bits())?;
        let sint_msr = msr::SINT0 + u32::from(config.sint);
        let sint = SintMsr::from_bits(backend.read_msr(sint_msr)?)
            .with_vector(config.vector)
            .with_masked(false)
            .with_auto_eoi(config.auto_eoi)
            .with_polling(false);
        backend.write_msr(sint_msr, sint.bits())?;
        let scontrol = SControlMsr::from_bits(backend.read_msr(msr::SCONTROL)?).with_enabled(true);
        backend.write_msr(msr::SCONTROL, scontrol.bits())?;

        Ok(Self {
            backend,
            memory,
            config,
            pages,
            vp_index,
        })
    }

    /// The pages in use.
    pub fn pages(&self) -> SynicPages {
        self.pages
    }

    /// The VP index read during bring-up.
    pub fn vp_index(&self) -> u32 {
        self.vp_index
    }

    /// The configuration in use.
    pub fn config(&self) -> SynicConfig {
        self.config
    }

    /// The backend (for further MSR accesses).
    pub fn backend(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The guest memory.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// HvPostMessage: writes the 256-byte input block into the owned input page and issues the
    /// slow call. Transient errors (`InsufficientBuffers`, `InsufficientMemory`) are returned
    /// to the caller, which decides about back-off.
    pub fn post_message(
        &mut self,
        connection_id: u32,
        message_type: MessageType,
        payload: &[u8],
    ) -> Result<(), SynicError> {
        if payload.len() > POST_MESSAGE_MAX_PAYLOAD {
            return Err(SynicError::PayloadTooLarge {
                length: payload.len(),
            });
        }
        if !message_type.is_postable() {
            return Err(SynicError::InvalidMessageType(message_type));
        }
        let block = PostMessageInput::new(connection_id, message_type.0, payload).ok_or(
            SynicError::PayloadTooLarge {
                length: payload.len(),
            },
        )?;
        self.memory
            .write(self.pages.hypercall_input, block.as_bytes())?;
        let output = self.backend.hypercall(
            HypercallInput::slow(CALL_POST_MESSAGE),
            self.pages.hypercall_input,
            0,
        )?;
        Ok(output.result()?)
    }

    /// HvSignalEvent, fast form (RDX = connection id | flag << 32).
    pub fn signal_event(&mut self, connection_id: u32, flag_number: u16) -> Result<(), SynicError> {
        let input = SignalEventInput {
            connection_id,
            flag_number,
            reserved: 0,
        };
        let output = self.backend.hypercall(
            HypercallInput::fast(CALL_SIGNAL_EVENT),
            input.to_fast_register(),
            0,
        )?;
        Ok(output.result()?)
    }

    /// Takes the message waiting in the slot of `sint`, releasing the slot and writing EOM
    /// when MessagePending was set (so the host delivers the next one). `None` when the slot
    /// is empty. Call it in a loop until `None` after every interrupt.
    pub fn poll_message(&mut self, sint: u8) -> Result<Option<ReceivedMessage>, SynicError> {
        if sint >= SINT_COUNT {
            return Err(SynicError::InvalidSint(sint));
        }
        let Some(taken) = synic::take_message(&self.memory, self.pages.messages, sint)? else {
            return Ok(None);
        };
        if taken.end_of_message_required {
            self.backend.write_msr(msr::EOM, 0)?;
        }
        Ok(Some(taken.message))
    }

    /// Scans and clears the event flags of `sint`; iterate the result for the flag numbers
    /// (VMBus relids) that fired.
    pub fn fired_event_flags(&mut self, sint: u8) -> Result<EventFlags, SynicError> {
        self.fired_event_flags_below(sint, synic::EVENT_FLAGS_PER_SINT)
    }

    /// As [`Self::fired_event_flags`], but only the flags below `flag_limit`
    /// ([`synic::take_event_flags_below`]): a VMBus driver passes one above its highest
    /// offered relid, so an interrupt scans one word of the bitmap instead of 32.
    pub fn fired_event_flags_below(
        &mut self,
        sint: u8,
        flag_limit: u32,
    ) -> Result<EventFlags, SynicError> {
        if sint >= SINT_COUNT {
            return Err(SynicError::InvalidSint(sint));
        }
        Ok(synic::take_event_flags_below(
            &self.memory,
            self.pages.event_flags,
            sint,
            flag_limit,
        )?)
    }

    /// Tears the SynIC down in reverse order (mask the SINT, disable SCONTROL, SIEFP, SIMP
    /// and the hypercall page), returns the pages to `allocator` and gives back the backend
    /// and memory. GUEST_OS_ID is left set.
    pub fn shutdown<A: PageAllocator>(mut self, allocator: &mut A) -> Result<(B, M), SynicError> {
        let backend = &mut self.backend;
        let sint_msr = msr::SINT0 + u32::from(self.config.sint);
        let sint = SintMsr::from_bits(backend.read_msr(sint_msr)?).with_masked(true);
        backend.write_msr(sint_msr, sint.bits())?;
        let scontrol = SControlMsr::from_bits(backend.read_msr(msr::SCONTROL)?).with_enabled(false);
        backend.write_msr(msr::SCONTROL, scontrol.bits())?;
        for register in [msr::SIEFP, msr::SIMP, msr::HYPERCALL] {
            let value = PageMsr::from_bits(backend.read_msr(register)?).with_enabled(false);
            backend.write_msr(register, value.bits())?;
        }
        allocator.free_page(self.pages.hypercall, PagePurpose::HypercallCode);
        allocator.free_page(self.pages.messages, PagePurpose::SynicMessages);
        allocator.free_page(self.pages.event_flags, PagePurpose::SynicEventFlags);
        allocator.free_page(self.pages.hypercall_input, PagePurpose::HypercallInput);
        Ok((self.backend, self.memory))
    }
}
