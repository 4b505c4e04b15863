//! IA32_APIC_BASE and the choice of access mode.
//!
//! | EN (bit 11) | EXTD (bit 10) | state                 | what the kernel does               |
//! |-------------|---------------|-----------------------|------------------------------------|
//! | 1           | 1             | x2APIC                | MSR backend                        |
//! | 1           | 0             | xAPIC                 | MMIO backend at the MSR's base     |
//! | 0           | 0             | disabled              | set EN, then MMIO backend          |
//! | 0           | 1             | invalid (SDM §10.12.5) | refuse ([`ModeError::InvalidState`]) |
//!
//! The MMIO base comes from the MSR, not from a constant: the MADT's (or its 64-bit override's)
//! address is only a cross-check ([`ApicMode::agrees_with_madt`]), because the MSR is what the
//! processor actually decodes.

/// The architectural MSR that holds the APIC base and mode bits.
pub const IA32_APIC_BASE: u32 = 0x1b;

const BOOTSTRAP_PROCESSOR: u64 = 1 << 8;
const X2APIC_ENABLE: u64 = 1 << 10;
const GLOBAL_ENABLE: u64 = 1 << 11;
const PAGE_MASK: u64 = 0xfff;
/// The narrowest and widest physical address widths x86-64 defines (CPUID 0x80000008 EAX bits 7:0).
const PHYSICAL_ADDRESS_BITS: core::ops::RangeInclusive<u8> = 36..=52;

/// The value of IA32_APIC_BASE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApicBase(pub u64);

impl ApicBase {
    /// Whether this is the bootstrap processor (bit 8).
    pub fn is_bootstrap_processor(self) -> bool {
        self.0 & BOOTSTRAP_PROCESSOR != 0
    }

    /// Whether the APIC is globally enabled (EN, bit 11).
    pub fn is_enabled(self) -> bool {
        self.0 & GLOBAL_ENABLE != 0
    }

    /// Whether x2APIC mode is on (EXTD, bit 10).
    pub fn is_x2apic(self) -> bool {
        self.0 & X2APIC_ENABLE != 0
    }

    /// The physical base of the xAPIC register page: bits 12 up to the processor's physical
    /// address width (`physical_address_bits`, clamped to 36..=52).
    pub fn base_address(self, physical_address_bits: u8) -> u64 {
        let bits = physical_address_bits
            .clamp(*PHYSICAL_ADDRESS_BITS.start(), *PHYSICAL_ADDRESS_BITS.end());
        let width_mask = (1u64 << bits) - 1;
        self.0 & width_mask & !PAGE_MASK
    }

    /// The same value with the APIC globally enabled (the value to write to enable it).
    pub fn with_enabled(self) -> ApicBase {
        ApicBase(self.0 | GLOBAL_ENABLE)
    }
}

/// How the kernel reaches the local APIC's registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApicMode {
    /// xAPIC: 32-bit registers in a 4 KiB MMIO page at `base` (physical).
    XApic {
        /// Physical address of the register page, from IA32_APIC_BASE.
        base: u64,
    },
    /// x2APIC: registers are MSRs 0x800 + offset / 16.
    X2Apic,
}

impl ApicMode {
    /// Whether the MADT's local APIC address agrees with the mode (always true in x2APIC
    /// mode, where the MMIO page is not used).
    pub fn agrees_with_madt(self, madt_address: u64) -> bool {
        match self {
            ApicMode::XApic { base } => base == madt_address,
            ApicMode::X2Apic => true,
        }
    }

    /// The short name the boot report prints: `xapic` or `x2apic`.
    pub fn name(self) -> &'static str {
        match self {
            ApicMode::XApic { .. } => "xapic",
            ApicMode::X2Apic => "x2apic",
        }
    }
}

impl core::fmt::Display for ApicMode {
    /// `xapic base=0x<hex>` or `x2apic` (the shape of the boot report's apic line).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApicMode::XApic { base } => write!(f, "xapic base={base:#x}"),
            ApicMode::X2Apic => f.write_str("x2apic"),
        }
    }
}

/// What [`choose_mode`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeChoice {
    /// The mode to use.
    pub mode: ApicMode,
    /// When the APIC is globally disabled: the IA32_APIC_BASE value to write first.
    pub enable_with: Option<ApicBase>,
}

/// Why the local APIC cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeError {
    /// EXTD set while EN is clear: an invalid state the SDM forbids.
    InvalidState(ApicBase),
    /// xAPIC mode with a register page at physical address 0.
    NoBase(ApicBase),
}

/// Chooses the access mode from IA32_APIC_BASE (`apic_base`) and the processor's physical
/// address width (CPUID 0x80000008 EAX bits 7:0; 36 when the leaf is absent).
pub fn choose_mode(apic_base: u64, physical_address_bits: u8) -> Result<ModeChoice, ModeError> {
    let value = ApicBase(apic_base);
    match (value.is_enabled(), value.is_x2apic()) {
        (true, true) => Ok(ModeChoice {
            mode: ApicMode::X2Apic,
            enable_with: None,
        }),
        (false, true) => Err(ModeError::InvalidState(value)),
        (enabled, false) => {
            let base = value.base_address(physical_address_bits);
            if base == 0 {
                return Err(ModeError::NoBase(value));
            }
            Ok(ModeChoice {
                mode: ApicMode::XApic { base },
                enable_with: (!enabled).then(|| value.with_enabled()),
            })
        }
    }
}

impl core::fmt::Display for ModeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ModeError::InvalidState(value) => write!(
                f,
                "IA32_APIC_BASE {:#x} has x2APIC on but the APIC disabled",
                value.0
            ),
            ModeError::NoBase(value) => {
                write!(f, "IA32_APIC_BASE {:#x} has no register base", value.0)
            }
        }
    }
}
