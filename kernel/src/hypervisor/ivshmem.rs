//! QEMU's `ivshmem-doorbell` PCI device as the byte link to the emulated host: the frames of
//! `hyperv::emulated_link` cross two rings in the device's shared memory
//! (`hyperv::emulated_link::mailbox`), the Doorbell register wakes the host, and the device's
//! MSI-X vector 0 is the host's interrupt.
//!
//! Device facts from QEMU's `docs/specs/ivshmem-spec.rst` (qemu/qemu): vendor 1af4, device
//! 1110, revision 1; BAR0 holds the registers (Interrupt Mask at 0, Interrupt Status at 4,
//! IVPosition at 8, Doorbell at 12: peer ID in bits 31:16, vector in bits 15:0), BAR1 the MSI-X
//! table and PBA (ivshmem-doorbell only), BAR2 the shared memory. The emulator is peer 0
//! (`emulator::platform::ivshmem`). MSI-X: PCI Local Bus 3.0 §6.8.2 (capability ID 0x11;
//! Message Control bit 15 enables; table BIR in bits 2:0 of the table offset; 16-byte entries:
//! address low, address high, data, vector control with bit 0 = masked) and Intel SDM Vol. 3
//! §11.11 (address 0xFEEx_xxxx with the destination APIC ID in bits 19:12; data = the vector,
//! fixed delivery, edge).
//!
//! Nothing here exists on Hyper-V; the device is found by PCI enumeration of bus 0 through
//! configuration mechanism #1 (ports 0xCF8/0xCFC), after the firmware placed its BARs. The BARs
//! must lie clear of the VMBus MMIO gaps the firmware describes in ACPI (VMBus devices are
//! placed there): [`IvshmemLink::probe`] refuses a device whose BARs overlap them, so the boot
//! fails at the hypervisor stage.
//!
//! The shared memory is host memory: everything read from it is copied out (volatile loads
//! through [`RegisterBlock`]) and then validated — ring indices by the ring, frames by the
//! frame decoder (magic, kind, length, CRC).

use hyperv::emulated_link::SerialLink;
use hyperv::emulated_link::mailbox::{
    self, RingConsumer, RingProducer, SHARED_MEMORY_SIZE, TO_GUEST, TO_HOST,
};
use hyperv::memory::{GuestMemory, MemoryError};
use hyperv::mmio::{MmioGaps, MmioRange};
use hyperv::platform::PlatformError;
use x86_64::PhysAddr;

use crate::arch::pci_config::PciFunction;
use crate::clock;
use crate::memory::registers::{Register, RegisterBlock};
use volatile::access::WriteOnly;

/// QEMU's ivshmem vendor and device ID (Red Hat, Inc.).
pub const VENDOR_ID: u16 = 0x1af4;
/// The ivshmem device ID.
pub const DEVICE_ID: u16 = 0x1110;
/// The emulator's peer ID (`emulator::platform::ivshmem::HOST_PEER_ID`).
const HOST_PEER_ID: u32 = 0;
/// The Doorbell register of BAR0.
const DOORBELL: Register<u32, WriteOnly> = Register::at(12);
/// BAR0's size (the spec's 256-byte register block).
const REGISTERS_SIZE: u64 = 256;
/// The MSI-X capability ID.
const CAPABILITY_MSIX: u8 = 0x11;
/// How long a request waits for its reply (as over COM2).
const REPLY_TIMEOUT_NANOSECONDS: u64 = 5_000_000_000;

/// A PCI function on bus 0, read and written through `arch::pci_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Function(PciFunction);

impl Function {
    fn on_bus_zero(device: u8, function: u8) -> Function {
        Function(PciFunction {
            bus: 0,
            device,
            function,
        })
    }

    /// Reads the configuration dword at `offset`.
    fn read(self, offset: u8) -> u32 {
        self.0.read_u32(offset.into())
    }

    /// Writes the configuration dword at `offset`. Only this module's own device is written:
    /// its command register, BARs while sizing them (restored at once) and its MSI-X control.
    fn write(self, offset: u8, value: u32) {
        // SAFETY: callers write only the ivshmem function found by `find` (vendor 1af4 device
        // 1110): its BARs are put back to the firmware's values before memory decoding is
        // enabled again, so no write moves a BAR over RAM; the command register gains memory
        // decoding and bus mastering for the device's own BARs and MSI-X messages only.
        unsafe { self.0.write_u32(offset.into(), value) }
    }
}

/// Why the ivshmem link could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvshmemError {
    /// A BAR is not a memory BAR, or is not assigned.
    BarUnassigned(u8),
    /// A BAR overlaps a VMBus MMIO gap.
    BarInGap {
        /// The BAR.
        bar: u8,
        /// Its range.
        range: MmioRange,
    },
    /// BAR2 is smaller than the mailboxes.
    SharedMemoryTooSmall(u64),
    /// No MSI-X capability (not an `ivshmem-doorbell`).
    NoMsix,
    /// Mapping a BAR failed.
    Mapping,
    /// The shared memory does not carry the mailbox layout.
    NoMailboxes,
}

impl core::fmt::Display for IvshmemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IvshmemError::BarUnassigned(bar) => write!(f, "BAR{bar} not assigned"),
            IvshmemError::BarInGap { bar, range } => write!(
                f,
                "BAR{bar} at {:#x}+{:#x} overlaps a VMBus MMIO gap",
                range.base, range.length
            ),
            IvshmemError::SharedMemoryTooSmall(size) => {
                write!(
                    f,
                    "BAR2 holds {size:#x} bytes, the mailboxes need {SHARED_MEMORY_SIZE:#x}"
                )
            }
            IvshmemError::NoMsix => f.write_str("no MSI-X capability"),
            IvshmemError::Mapping => f.write_str("a BAR could not be mapped"),
            IvshmemError::NoMailboxes => f.write_str("the shared memory has no mailboxes"),
        }
    }
}

/// The shared memory as `GuestMemory` (offset = address), for the rings.
struct Mailboxes(RegisterBlock);

impl Mailboxes {
    fn error(offset: u64, length: usize) -> MemoryError {
        MemoryError::OutOfRange {
            gpa: offset,
            length: length as u64,
        }
    }
}

impl GuestMemory for Mailboxes {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let offset = usize::try_from(gpa).map_err(|_| Self::error(gpa, buffer.len()))?;
        self.0
            .as_shared_memory()
            .read(offset, buffer)
            .map_err(|_| Self::error(gpa, buffer.len()))
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let offset = usize::try_from(gpa).map_err(|_| Self::error(gpa, data.len()))?;
        self.0
            .as_shared_memory()
            .write(offset, data)
            .map_err(|_| Self::error(gpa, data.len()))
    }

    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        let offset = usize::try_from(gpa).map_err(|_| Self::error(gpa, 4))?;
        self.0.read_at(offset).map_err(|_| Self::error(gpa, 4))
    }

    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        let offset = usize::try_from(gpa).map_err(|_| Self::error(gpa, 4))?;
        // Volatile accesses are not reordered with each other by the compiler, and x86 keeps
        // stores in order: the data written before is visible before the index.
        self.0
            .write_at(offset, value)
            .map_err(|_| Self::error(gpa, 4))
    }
}

/// The link over ivshmem.
pub struct IvshmemLink {
    function: Function,
    registers: RegisterBlock,
    msix_entry: RegisterBlock,
    msix_capability: u8,
    mailboxes: Mailboxes,
    to_host: RingProducer,
    to_guest: RingConsumer,
}

/// Finds the first ivshmem function on bus 0.
fn find() -> Option<Function> {
    for device in 0..32 {
        for function in 0..8 {
            let candidate = Function::on_bus_zero(device, function);
            let id = candidate.read(0);
            if id == u32::MAX {
                if function == 0 {
                    break;
                }
                continue;
            }
            if id == u32::from(VENDOR_ID) | (u32::from(DEVICE_ID) << 16) {
                return Some(candidate);
            }
            // Header type bit 7: a multi-function device.
            if function == 0 && (candidate.read(0x0c) >> 16) & 0x80 == 0 {
                break;
            }
        }
    }
    None
}

/// The address and size of memory BAR `index` (0–5), sized by the all-ones probe with memory
/// decoding off, restoring the firmware's value.
fn bar(function: Function, index: u8) -> Result<MmioRange, IvshmemError> {
    let offset = 0x10 + 4 * index;
    let low = function.read(offset);
    if low & 1 != 0 {
        return Err(IvshmemError::BarUnassigned(index));
    }
    let is_64_bit = (low >> 1) & 0b11 == 0b10;
    let high = if is_64_bit {
        function.read(offset + 4)
    } else {
        0
    };
    let command = function.read(0x04);
    function.write(0x04, command & !0b10);
    function.write(offset, u32::MAX);
    let size_low = function.read(offset);
    function.write(offset, low);
    let size_high = if is_64_bit {
        function.write(offset + 4, u32::MAX);
        let size_high = function.read(offset + 4);
        function.write(offset + 4, high);
        size_high
    } else {
        u32::MAX
    };
    function.write(0x04, command);
    let mask = (u64::from(size_high) << 32) | u64::from(size_low & !0xf);
    let base = (u64::from(high) << 32) | u64::from(low & !0xf);
    let length = (!mask).wrapping_add(1);
    if base == 0 || length == 0 {
        return Err(IvshmemError::BarUnassigned(index));
    }
    Ok(MmioRange::new(base, length))
}

/// Finds capability `id` in the function's list.
fn capability(function: Function, id: u8) -> Option<u8> {
    if (function.read(0x04) >> 16) & 0x10 == 0 {
        return None;
    }
    let mut pointer = (function.read(0x34) & 0xfc) as u8;
    for _ in 0..48 {
        if pointer < 0x40 {
            return None;
        }
        let header = function.read(pointer);
        if header as u8 == id {
            return Some(pointer);
        }
        pointer = ((header >> 8) & 0xfc) as u8;
    }
    None
}

/// Refuses BARs that overlap a VMBus MMIO gap.
fn check_clear_of_gaps(bars: &[(u8, MmioRange)], gaps: &MmioGaps) -> Result<(), IvshmemError> {
    for &(bar, range) in bars {
        if gaps.ranges().any(|gap| gap.overlaps(&range)) {
            return Err(IvshmemError::BarInGap { bar, range });
        }
    }
    Ok(())
}

impl IvshmemLink {
    /// Finds the device; `None` when there is none, an error when it is unusable.
    pub fn probe() -> Option<Result<IvshmemLink, IvshmemError>> {
        let function = find()?;
        Some(Self::open(function))
    }

    fn open(function: Function) -> Result<IvshmemLink, IvshmemError> {
        let registers_range = bar(function, 0)?;
        let msix_range = bar(function, 1)?;
        let shared_range = bar(function, 2)?;
        log::debug!(
            "ivshmem: {function:?} BAR0 {:#x}+{:#x} BAR1 {:#x}+{:#x} BAR2 {:#x}+{:#x}",
            registers_range.base,
            registers_range.length,
            msix_range.base,
            msix_range.length,
            shared_range.base,
            shared_range.length
        );
        let bars = [(0, registers_range), (1, msix_range), (2, shared_range)];
        if let Some(Ok(gaps)) = crate::platform::info().map(|info| &info.vmbus_mmio) {
            check_clear_of_gaps(&bars, gaps)?;
        }
        if shared_range.length < SHARED_MEMORY_SIZE {
            return Err(IvshmemError::SharedMemoryTooSmall(shared_range.length));
        }
        let msix_capability = capability(function, CAPABILITY_MSIX).ok_or(IvshmemError::NoMsix)?;
        let table = function.read(msix_capability + 4);
        let table_bar = (table & 0b111) as u8;
        let table_offset = u64::from(table & !0b111);
        let table_range = match table_bar {
            1 => msix_range,
            0 => registers_range,
            2 => shared_range,
            _ => return Err(IvshmemError::NoMsix),
        };
        if table_offset + 16 > table_range.length {
            return Err(IvshmemError::NoMsix);
        }
        // Memory decoding on (bit 1), and bus mastering (bit 2): an MSI is a memory write by
        // the device.
        let command = function.read(0x04);
        function.write(0x04, command | 0b110);
        let map = |base: u64, length: u64| {
            RegisterBlock::map_device(PhysAddr::new(base), length)
                .map_err(|_| IvshmemError::Mapping)
        };
        let registers = map(registers_range.base, REGISTERS_SIZE)?;
        let msix_entry = map(table_range.base + table_offset, 16)?;
        let mailboxes = Mailboxes(map(shared_range.base, SHARED_MEMORY_SIZE)?);
        if !mailbox::is_initialised(&mailboxes).unwrap_or(false) {
            return Err(IvshmemError::NoMailboxes);
        }
        let to_host =
            RingProducer::attach(TO_HOST, &mailboxes).map_err(|_| IvshmemError::NoMailboxes)?;
        let to_guest = RingConsumer::attach_skipping(TO_GUEST, &mailboxes)
            .map_err(|_| IvshmemError::NoMailboxes)?;
        Ok(IvshmemLink {
            function,
            registers,
            msix_entry,
            msix_capability,
            mailboxes,
            to_host,
            to_guest,
        })
    }

    /// Points MSI-X vector 0 at `vector` on the processor with local APIC ID `apic_id` and
    /// enables MSI-X.
    pub fn route_interrupt(&self, vector: u8, apic_id: u32) -> Result<(), IvshmemError> {
        if apic_id > 0xff {
            return Err(IvshmemError::NoMsix);
        }
        let entry = |offset: usize, value: u32| {
            self.msix_entry
                .write_at(offset, value)
                .map_err(|_| IvshmemError::Mapping)
        };
        entry(12, 1)?;
        entry(0, 0xfee0_0000 | (apic_id << 12))?;
        entry(4, 0)?;
        entry(8, u32::from(vector))?;
        entry(12, 0)?;
        let control = self.function.read(self.msix_capability);
        // Message Control is the upper half of the capability's first dword: enable (bit 15),
        // function mask (bit 14) off.
        let enabled = (control & !(1 << 30)) | (1 << 31);
        self.function.write(self.msix_capability, enabled);
        Ok(())
    }
}

impl SerialLink for IvshmemLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PlatformError> {
        let deadline = clock::nanoseconds_since_boot() + REPLY_TIMEOUT_NANOSECONDS;
        let mut sent = 0;
        while sent < bytes.len() {
            match self.to_host.push(&self.mailboxes, &bytes[sent..]) {
                Ok(count) => sent += count,
                Err(error) => {
                    log::warn!("ivshmem: guest to host mailbox: {error}");
                    return Err(PlatformError::LinkFailure);
                }
            }
            if sent < bytes.len() {
                if clock::nanoseconds_since_boot() > deadline {
                    return Err(PlatformError::LinkFailure);
                }
                core::hint::spin_loop();
            }
        }
        self.registers
            .write(DOORBELL, HOST_PEER_ID << 16)
            .map_err(|_| PlatformError::LinkFailure)
    }

    fn receive(&mut self) -> Result<u8, PlatformError> {
        let mut byte = [0];
        self.receive_into(&mut byte)?;
        Ok(byte[0])
    }

    fn try_receive(&mut self) -> Option<u8> {
        let mut byte = [0];
        (self.try_receive_into(&mut byte) == 1).then_some(byte[0])
    }

    /// The host → guest mailbox's indices differ (a corrupt index counts: the read reports
    /// it). An unreadable mailbox (not possible with its fixed bounds) counts as empty: no
    /// task then keeps coming back for it, and the emulator's interrupt still comes.
    fn has_waiting_input(&self) -> bool {
        self.to_guest.has_bytes(&self.mailboxes).unwrap_or(false)
    }

    /// Straight from the mailbox into `buffer`, until the mailbox is empty or `buffer` full.
    fn try_receive_into(&mut self, buffer: &mut [u8]) -> usize {
        let mut count = 0;
        while let Some(rest) = buffer.get_mut(count..).filter(|rest| !rest.is_empty()) {
            match self.to_guest.pop(&self.mailboxes, rest) {
                Ok(0) => break,
                Ok(popped) => count += popped,
                Err(error) => {
                    log::warn!("ivshmem: host to guest mailbox: {error}; resynchronised");
                    break;
                }
            }
        }
        count
    }

    fn receive_into(&mut self, buffer: &mut [u8]) -> Result<usize, PlatformError> {
        if buffer.is_empty() {
            return Ok(0);
        }
        let deadline = clock::nanoseconds_since_boot() + REPLY_TIMEOUT_NANOSECONDS;
        loop {
            let count = self.try_receive_into(buffer);
            if count > 0 {
                return Ok(count);
            }
            if clock::nanoseconds_since_boot() > deadline {
                return Err(PlatformError::LinkFailure);
            }
            core::hint::spin_loop();
        }
    }
}
