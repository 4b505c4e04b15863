//! Synthetic MSR numbers and typed encoders/decoders for their values (reference §1.6–1.8).
//!
//! Each register type wraps the raw 64-bit value so that a read-modify-write keeps the
//! reserved bits the hypervisor asks guests to preserve: read the MSR, wrap it with
//! `from_bits`, change fields with the `with_*` methods, write `bits()` back.

/// Guest OS identity (partition scope).
pub const GUEST_OS_ID: u32 = 0x4000_0000;
/// Hypercall page control (partition scope).
pub const HYPERCALL: u32 = 0x4000_0001;
/// Hypervisor VP index of the current processor (read-only).
pub const VP_INDEX: u32 = 0x4000_0002;
/// Partition reset (write bit 0).
pub const RESET: u32 = 0x4000_0003;
/// VP run time in 100 ns units.
pub const VP_RUNTIME: u32 = 0x4000_0010;
/// Partition reference counter: 100 ns ticks since partition creation (read-only).
pub const TIME_REF_COUNT: u32 = 0x4000_0020;
/// Reference TSC page control.
pub const REFERENCE_TSC: u32 = 0x4000_0021;
/// TSC frequency in Hz.
pub const TSC_FREQUENCY: u32 = 0x4000_0022;
/// Local APIC timer input frequency in Hz.
pub const APIC_FREQUENCY: u32 = 0x4000_0023;
/// APIC end-of-interrupt (write-only).
pub const EOI: u32 = 0x4000_0070;
/// SynIC control: bit 0 enables the SynIC of this VP.
pub const SCONTROL: u32 = 0x4000_0080;
/// SynIC version (read-only, 1).
pub const SVERSION: u32 = 0x4000_0081;
/// SynIC event-flags page control.
pub const SIEFP: u32 = 0x4000_0082;
/// SynIC message page control.
pub const SIMP: u32 = 0x4000_0083;
/// End of message: write 0 after releasing a message slot whose MessagePending flag was set.
pub const EOM: u32 = 0x4000_0084;
/// SINT0; SINTn is `SINT0 + n` for n in 0..16.
pub const SINT0: u32 = 0x4000_0090;
/// SINT15, the last synthetic interrupt source register.
pub const SINT15: u32 = 0x4000_009F;
/// Number of synthetic interrupt sources per VP.
pub const SINT_COUNT: u8 = 16;
/// The value of SVERSION.
pub const SYNIC_VERSION: u64 = 1;

/// The MSR of synthetic interrupt source `sint` (0..16), or `None` when out of range.
pub const fn sint(sint: u8) -> Option<u32> {
    if sint < SINT_COUNT {
        Some(SINT0 + sint as u32)
    } else {
        None
    }
}

/// The SINT number of `msr` when it is one of SINT0..SINT15.
pub const fn sint_index(msr: u32) -> Option<u8> {
    if msr >= SINT0 && msr <= SINT15 {
        Some((msr - SINT0) as u8)
    } else {
        None
    }
}

/// Guest OS ID in the open-source encoding (bit 63 set; reference §1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestOsId(pub u64);

impl GuestOsId {
    /// OS type 0: undefined (what a new OS uses).
    pub const OS_TYPE_UNDEFINED: u8 = 0;
    /// OS type 1: Linux.
    pub const OS_TYPE_LINUX: u8 = 1;
    /// OS type 2: FreeBSD.
    pub const OS_TYPE_FREEBSD: u8 = 2;
    /// The identity dxgos writes: open source, type undefined, OS id 0xD0, version 0.1, build 0.
    pub const DXGOS: Self = Self::open_source(Self::OS_TYPE_UNDEFINED, 0xD0, 0x0000_0100, 0);

    /// Encodes the open-source layout: bit 63 = 1, 62:56 OS type, 55:48 OS id,
    /// 47:16 version, 15:0 build.
    pub const fn open_source(os_type: u8, os_id: u8, version: u32, build: u16) -> Self {
        Self(
            (1 << 63)
                | (((os_type & 0x7f) as u64) << 56)
                | ((os_id as u64) << 48)
                | ((version as u64) << 16)
                | build as u64,
        )
    }

    /// Whether bit 63 (open-source encoding) is set.
    pub const fn is_open_source(self) -> bool {
        self.0 >> 63 == 1
    }

    /// Bits 62:56.
    pub const fn os_type(self) -> u8 {
        ((self.0 >> 56) & 0x7f) as u8
    }

    /// Bits 55:48.
    pub const fn os_id(self) -> u8 {
        (self.0 >> 48) as u8
    }

    /// Bits 47:16.
    pub const fn version(self) -> u32 {
        (self.0 >> 16) as u32
    }

    /// Bits 15:0.
    pub const fn build(self) -> u16 {
        self.0 as u16
    }
}

/// An overlay-page control MSR: HYPERCALL, SIMP, SIEFP and REFERENCE_TSC share this layout
/// (bit 0 enable, bits 11:1 reserved-preserve — bit 1 is the lock bit of HYPERCALL —,
/// bits 63:12 guest page number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageMsr(pub u64);

impl PageMsr {
    const ENABLE: u64 = 1;
    const LOCKED: u64 = 1 << 1;
    const PAGE_MASK: u64 = !0xfff;

    /// Wraps a raw value read from the MSR.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The raw value to write.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Bit 0.
    pub const fn enabled(self) -> bool {
        self.0 & Self::ENABLE != 0
    }

    /// Bit 1 of HYPERCALL: the write-once lock (meaningless for the other page MSRs).
    pub const fn locked(self) -> bool {
        self.0 & Self::LOCKED != 0
    }

    /// Bits 63:12: the guest page number.
    pub const fn page_number(self) -> u64 {
        self.0 >> 12
    }

    /// The guest-physical address of the page.
    pub const fn gpa(self) -> u64 {
        self.0 & Self::PAGE_MASK
    }

    /// Sets or clears bit 0, keeping every other bit.
    pub const fn with_enabled(self, enabled: bool) -> Self {
        Self((self.0 & !Self::ENABLE) | enabled as u64)
    }

    /// Replaces bits 63:12 with the page of `gpa` (which must be 4 KiB aligned; low bits are
    /// ignored), keeping bits 11:0.
    pub const fn with_gpa(self, gpa: u64) -> Self {
        Self((self.0 & !Self::PAGE_MASK) | (gpa & Self::PAGE_MASK))
    }
}

/// A SINTx register (reference §1.8): 7:0 vector, 16 masked, 17 auto-EOI, 18 polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SintMsr(pub u64);

impl SintMsr {
    const VECTOR_MASK: u64 = 0xff;
    const MASKED: u64 = 1 << 16;
    const AUTO_EOI: u64 = 1 << 17;
    const POLLING: u64 = 1 << 18;
    /// The value every SINT has at reset: masked, vector 0.
    pub const RESET: Self = Self(Self::MASKED);
    /// The lowest vector a SINT may use.
    pub const MINIMUM_VECTOR: u8 = 16;

    /// Wraps a raw value read from the MSR.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The raw value to write.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Bits 7:0.
    pub const fn vector(self) -> u8 {
        (self.0 & Self::VECTOR_MASK) as u8
    }

    /// Bit 16.
    pub const fn masked(self) -> bool {
        self.0 & Self::MASKED != 0
    }

    /// Bit 17.
    pub const fn auto_eoi(self) -> bool {
        self.0 & Self::AUTO_EOI != 0
    }

    /// Bit 18.
    pub const fn polling(self) -> bool {
        self.0 & Self::POLLING != 0
    }

    /// Replaces bits 7:0.
    pub const fn with_vector(self, vector: u8) -> Self {
        Self((self.0 & !Self::VECTOR_MASK) | vector as u64)
    }

    /// Sets or clears bit 16.
    pub const fn with_masked(self, masked: bool) -> Self {
        Self((self.0 & !Self::MASKED) | if masked { Self::MASKED } else { 0 })
    }

    /// Sets or clears bit 17.
    pub const fn with_auto_eoi(self, auto_eoi: bool) -> Self {
        Self((self.0 & !Self::AUTO_EOI) | if auto_eoi { Self::AUTO_EOI } else { 0 })
    }

    /// Sets or clears bit 18.
    pub const fn with_polling(self, polling: bool) -> Self {
        Self((self.0 & !Self::POLLING) | if polling { Self::POLLING } else { 0 })
    }
}

/// SCONTROL: bit 0 enables the SynIC; the other bits are reserved-preserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SControlMsr(pub u64);

impl SControlMsr {
    /// Wraps a raw value read from the MSR.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The raw value to write.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Bit 0.
    pub const fn enabled(self) -> bool {
        self.0 & 1 != 0
    }

    /// Sets or clears bit 0.
    pub const fn with_enabled(self, enabled: bool) -> Self {
        Self((self.0 & !1) | enabled as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msr_numbers_match_the_reference() {
        assert_eq!(GUEST_OS_ID, 0x40000000);
        assert_eq!(HYPERCALL, 0x40000001);
        assert_eq!(VP_INDEX, 0x40000002);
        assert_eq!(TIME_REF_COUNT, 0x40000020);
        assert_eq!(REFERENCE_TSC, 0x40000021);
        assert_eq!(SCONTROL, 0x40000080);
        assert_eq!(SIEFP, 0x40000082);
        assert_eq!(SIMP, 0x40000083);
        assert_eq!(EOM, 0x40000084);
        assert_eq!(sint(0), Some(0x40000090));
        assert_eq!(sint(2), Some(0x40000092));
        assert_eq!(sint(15), Some(0x4000009F));
        assert_eq!(sint(16), None);
        assert_eq!(sint_index(0x40000092), Some(2));
        assert_eq!(sint_index(0x400000A0), None);
    }

    #[test]
    fn guest_os_id_open_source_encoding() {
        // Linux 5.15.0 writes 0x81 in the top byte and LINUX_VERSION_CODE (0x050F00) at 47:16.
        let linux = GuestOsId::open_source(GuestOsId::OS_TYPE_LINUX, 0, 0x05_0F00, 0);
        assert_eq!(linux.0, 0x8100_0005_0F00_0000);
        // FreeBSD: 0x82 in the top byte.
        assert_eq!(GuestOsId::open_source(2, 0, 0, 0).0 >> 56, 0x82);
        assert_eq!(GuestOsId::DXGOS.0, 0x80D0_0000_0100_0000);
        let id = GuestOsId(0x8123_4567_89AB_CDEF);
        assert!(id.is_open_source());
        assert_eq!((id.os_type(), id.os_id()), (1, 0x23));
        assert_eq!((id.version(), id.build()), (0x4567_89AB, 0xCDEF));
    }

    #[test]
    fn page_msr_encoding_preserves_reserved_bits() {
        // Hypercall page at GPA 0x1234_5000, enabled.
        let value = PageMsr::from_bits(0)
            .with_gpa(0x1234_5000)
            .with_enabled(true);
        assert_eq!(value.bits(), 0x1234_5001);
        assert_eq!(value.page_number(), 0x12345);
        // Reserved bits 11:2 survive a read-modify-write; bit 1 is the lock.
        let read = PageMsr::from_bits(0xABC_0FFE);
        assert!(read.locked() && !read.enabled());
        let written = read.with_gpa(0x7000).with_enabled(true);
        assert_eq!(written.bits(), 0x7FFF);
        assert_eq!(written.gpa(), 0x7000);
        assert_eq!(written.with_enabled(false).bits(), 0x7FFE);
    }

    #[test]
    fn sint_encoding() {
        assert_eq!(SintMsr::RESET.bits(), 0x1_0000);
        assert!(SintMsr::RESET.masked());
        // Linux: vector 0xF3, unmasked, auto-EOI.
        let linux = SintMsr::RESET
            .with_vector(0xF3)
            .with_masked(false)
            .with_auto_eoi(true);
        assert_eq!(linux.bits(), 0x2_00F3);
        assert_eq!(linux.with_polling(true).bits(), 0x6_00F3);
        let reserved = SintMsr::from_bits(0xFFFF_0000_0000_FF00);
        let programmed = reserved.with_vector(0x30).with_masked(false);
        assert_eq!(programmed.bits(), 0xFFFF_0000_0000_FF30);
        assert_eq!(SintMsr(0x5_0042).vector(), 0x42);
        assert!(SintMsr(0x5_0042).polling() && SintMsr(0x5_0042).masked());
    }

    #[test]
    fn scontrol_encoding() {
        assert_eq!(SControlMsr::default().with_enabled(true).bits(), 1);
        assert_eq!(SControlMsr(0xF0).with_enabled(true).bits(), 0xF1);
        assert!(!SControlMsr(0xF0).enabled());
    }
}
