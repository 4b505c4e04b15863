//! CPUID leaves and bits of the Hyper-V guest interface (TLFS; reference §1.1–1.5).
//!
//! The kernel executes `cpuid` itself and hands the register values to the pure helpers here;
//! the emulated host uses the same constants to describe what it offers.

use bitflags::bitflags;

/// Leaf 0x1: ECX bit 31 says a hypervisor is present.
pub const LEAF_PROCESSOR_INFO: u32 = 0x1;
/// Bit of leaf 0x1 ECX set when running under a hypervisor.
pub const HYPERVISOR_PRESENT_ECX_BIT: u32 = 1 << 31;
/// Leaf 0x40000000: highest hypervisor leaf in EAX, vendor string in EBX/ECX/EDX.
pub const LEAF_VENDOR: u32 = 0x4000_0000;
/// Leaf 0x40000001: interface signature in EAX.
pub const LEAF_INTERFACE: u32 = 0x4000_0001;
/// Leaf 0x40000002: hypervisor version.
pub const LEAF_VERSION: u32 = 0x4000_0002;
/// Leaf 0x40000003: partition privileges (EAX/EBX), power features (ECX), misc features (EDX).
pub const LEAF_FEATURES: u32 = 0x4000_0003;
/// Leaf 0x40000004: implementation recommendations (EAX).
pub const LEAF_RECOMMENDATIONS: u32 = 0x4000_0004;
/// Leaf 0x40000005: implementation limits.
pub const LEAF_LIMITS: u32 = 0x4000_0005;
/// Leaf 0x4000000C: isolation configuration (all zero for a plain VM).
pub const LEAF_ISOLATION: u32 = 0x4000_000C;

/// Smallest acceptable EAX of leaf 0x40000000 (Linux requires at least this).
pub const MINIMUM_MAX_LEAF: u32 = 0x4000_0005;
/// Largest acceptable EAX of leaf 0x40000000.
pub const MAXIMUM_MAX_LEAF: u32 = 0x4000_FFFF;
/// EBX of leaf 0x40000000: "Micr".
pub const VENDOR_EBX: u32 = u32::from_le_bytes(*b"Micr");
/// ECX of leaf 0x40000000: "osof".
pub const VENDOR_ECX: u32 = u32::from_le_bytes(*b"osof");
/// EDX of leaf 0x40000000: "t Hv".
pub const VENDOR_EDX: u32 = u32::from_le_bytes(*b"t Hv");
/// EAX of leaf 0x40000001 for the TLFS interface: "Hv#1".
pub const INTERFACE_SIGNATURE_HV1: u32 = 0x3123_7648;

bitflags! {
    /// Partition privilege mask: leaf 0x40000003 EAX (bits 0–31) and EBX (bits 32–63).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PartitionPrivileges: u64 {
        /// MSR 0x40000010 VP runtime.
        const ACCESS_VP_RUNTIME = 1 << 0;
        /// MSR 0x40000020 TIME_REF_COUNT.
        const ACCESS_PARTITION_REFERENCE_COUNTER = 1 << 1;
        /// SynIC MSRs (SCONTROL, SVERSION, SIEFP, SIMP, EOM, SINT0–15).
        const ACCESS_SYNIC_REGISTERS = 1 << 2;
        /// Synthetic timer MSRs.
        const ACCESS_SYNTHETIC_TIMER_REGISTERS = 1 << 3;
        /// APIC access MSRs 0x40000070–72 and the VP assist page.
        const ACCESS_INTERRUPT_CONTROL_REGISTERS = 1 << 4;
        /// GUEST_OS_ID and HYPERCALL MSRs.
        const ACCESS_HYPERCALL_MSRS = 1 << 5;
        /// MSR 0x40000002 VP_INDEX.
        const ACCESS_VP_INDEX = 1 << 6;
        /// MSR 0x40000003 RESET.
        const ACCESS_RESET_REGISTER = 1 << 7;
        /// Statistics pages.
        const ACCESS_STATISTICS_REGISTER = 1 << 8;
        /// MSR 0x40000021 REFERENCE_TSC.
        const ACCESS_PARTITION_REFERENCE_TSC = 1 << 9;
        /// MSR 0x400000F0 guest idle.
        const ACCESS_GUEST_IDLE_REGISTER = 1 << 10;
        /// MSRs 0x40000022/23 TSC and APIC frequency.
        const ACCESS_FREQUENCY_REGISTERS = 1 << 11;
        /// Synthetic debugger MSRs.
        const ACCESS_DEBUG_REGISTERS = 1 << 12;
        /// Re-enlightenment MSRs 0x40000106–108.
        const ACCESS_REENLIGHTENMENT_CONTROLS = 1 << 13;
        /// MSR 0x40000118 TSC invariant control.
        const ACCESS_TSC_INVARIANT_CONTROLS = 1 << 15;
        /// EBX bit 0: create partitions (root only).
        const CREATE_PARTITIONS = 1 << 32;
        /// EBX bit 1: access partition id.
        const ACCESS_PARTITION_ID = 1 << 33;
        /// EBX bit 2: access memory pool.
        const ACCESS_MEMORY_POOL = 1 << 34;
        /// EBX bit 4: HvPostMessage allowed (required for VMBus).
        const POST_MESSAGES = 1 << 36;
        /// EBX bit 5: HvSignalEvent allowed (required for VMBus).
        const SIGNAL_EVENTS = 1 << 37;
        /// EBX bit 6: create ports (root only).
        const CREATE_PORT = 1 << 38;
        /// EBX bit 7: connect ports (root only).
        const CONNECT_PORT = 1 << 39;
        /// EBX bit 8: statistics.
        const ACCESS_STATISTICS = 1 << 40;
        /// EBX bit 11: debugging.
        const DEBUGGING = 1 << 43;
        /// EBX bit 12: CPU management.
        const CPU_MANAGEMENT = 1 << 44;
        /// EBX bit 16: virtual secure mode.
        const ACCESS_VSM = 1 << 48;
        /// EBX bit 17: HvGet/SetVpRegisters.
        const ACCESS_VP_REGISTERS = 1 << 49;
        /// EBX bit 20: extended hypercalls.
        const ENABLE_EXTENDED_HYPERCALLS = 1 << 52;
        /// EBX bit 22: isolation (confidential VM).
        const ISOLATION = 1 << 54;
    }
}

impl PartitionPrivileges {
    /// What the VMBus client cannot work without.
    pub const REQUIRED_FOR_VMBUS: Self = Self::ACCESS_SYNIC_REGISTERS
        .union(Self::ACCESS_HYPERCALL_MSRS)
        .union(Self::ACCESS_VP_INDEX)
        .union(Self::POST_MESSAGES)
        .union(Self::SIGNAL_EVENTS);

    /// Builds the mask from leaf 0x40000003 EAX and EBX.
    pub fn from_registers(eax: u32, ebx: u32) -> Self {
        Self::from_bits_retain(u64::from(eax) | (u64::from(ebx) << 32))
    }

    /// The (EAX, EBX) register pair of leaf 0x40000003 for this mask.
    pub fn to_registers(self) -> (u32, u32) {
        (self.bits() as u32, (self.bits() >> 32) as u32)
    }

    /// Privileges VMBus needs that this mask lacks (empty when VMBus can run).
    pub fn missing_for_vmbus(self) -> Self {
        Self::REQUIRED_FOR_VMBUS.difference(self)
    }
}

bitflags! {
    /// Misc features: leaf 0x40000003 EDX.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MiscFeatures: u32 {
        /// XMM registers usable for fast-hypercall input.
        const XMM_HYPERCALL_INPUT = 1 << 4;
        /// Guest idle state.
        const GUEST_IDLE = 1 << 5;
        /// Timer frequency details available (with privilege bit 11).
        const FREQUENCY_DETAILS = 1 << 8;
        /// Guest crash MSRs 0x40000100–105.
        const GUEST_CRASH_MSRS = 1 << 10;
        /// XMM registers usable for fast-hypercall output.
        const XMM_HYPERCALL_OUTPUT = 1 << 15;
        /// SINT polling mode available.
        const SINT_POLLING = 1 << 17;
        /// Hypercall MSR lock available.
        const HYPERCALL_MSR_LOCK = 1 << 18;
        /// Synthetic timer direct mode available.
        const STIMER_DIRECT_MODE = 1 << 19;
    }
}

bitflags! {
    /// Implementation recommendations: leaf 0x40000004 EAX.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Recommendations: u32 {
        /// Use MSRs 0x40000070–72 for APIC EOI/ICR/TPR.
        const USE_APIC_MSRS = 1 << 3;
        /// Use the RESET MSR for system reset.
        const USE_RESET_MSR = 1 << 4;
        /// Relaxed timing: do not trust watchdog timeouts.
        const RELAXED_TIMING = 1 << 5;
        /// Use x2APIC MSRs.
        const USE_X2APIC_MSRS = 1 << 8;
        /// Auto-EOI is deprecated: program SINTs with auto_eoi = 0 and EOI the APIC.
        const AUTO_EOI_DEPRECATED = 1 << 9;
        /// Running nested.
        const NESTED = 1 << 12;
    }
}

/// Why the CPUID values do not describe a usable Hyper-V.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuidError {
    /// Leaf 0x1 ECX bit 31 is clear.
    NoHypervisor,
    /// Leaf 0x40000000 does not say "Microsoft Hv" or its EAX is out of range.
    NotHyperV,
    /// Leaf 0x40000001 is not "Hv#1".
    WrongInterface(u32),
    /// Privileges VMBus needs are missing.
    MissingPrivileges(PartitionPrivileges),
}

/// The register values of the leaves the kernel checks, as read by `cpuid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HypervisorLeaves {
    /// Leaf 0x1 ECX.
    pub processor_info_ecx: u32,
    /// Leaf 0x40000000 EAX, EBX, ECX, EDX.
    pub vendor: [u32; 4],
    /// Leaf 0x40000001 EAX.
    pub interface: u32,
    /// Leaf 0x40000003 EAX, EBX, ECX, EDX.
    pub features: [u32; 4],
    /// Leaf 0x40000004 EAX.
    pub recommendations: u32,
}

/// What the kernel learns from a successful check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HypervisorFeatures {
    /// Partition privileges.
    pub privileges: PartitionPrivileges,
    /// Misc features (EDX of leaf 0x40000003).
    pub misc: MiscFeatures,
    /// Recommendations (EAX of leaf 0x40000004).
    pub recommendations: Recommendations,
}

impl HypervisorLeaves {
    /// Checks the leaves in the order of reference §0 steps 1–2.
    pub fn check(&self) -> Result<HypervisorFeatures, CpuidError> {
        if self.processor_info_ecx & HYPERVISOR_PRESENT_ECX_BIT == 0 {
            return Err(CpuidError::NoHypervisor);
        }
        let [max_leaf, ebx, ecx, edx] = self.vendor;
        if !(MINIMUM_MAX_LEAF..=MAXIMUM_MAX_LEAF).contains(&max_leaf)
            || (ebx, ecx, edx) != (VENDOR_EBX, VENDOR_ECX, VENDOR_EDX)
        {
            return Err(CpuidError::NotHyperV);
        }
        if self.interface != INTERFACE_SIGNATURE_HV1 {
            return Err(CpuidError::WrongInterface(self.interface));
        }
        let privileges = PartitionPrivileges::from_registers(self.features[0], self.features[1]);
        let missing = privileges.missing_for_vmbus();
        if !missing.is_empty() {
            return Err(CpuidError::MissingPrivileges(missing));
        }
        Ok(HypervisorFeatures {
            privileges,
            misc: MiscFeatures::from_bits_retain(self.features[3]),
            recommendations: Recommendations::from_bits_retain(self.recommendations),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hyper_v() -> HypervisorLeaves {
        HypervisorLeaves {
            processor_info_ecx: 0x8000_0000,
            // "Microsoft Hv" as the three registers hold it.
            vendor: [0x4000_000B, 0x7263_694D, 0x666F_736F, 0x7648_2074],
            interface: 0x3123_7648,
            // EAX bits 2, 5, 6; EBX bits 4, 5.
            features: [0x64, 0x30, 0, 0],
            recommendations: 1 << 9,
        }
    }

    #[test]
    fn vendor_constants_match_the_ascii_reference() {
        assert_eq!(VENDOR_EBX, 0x7263_694D);
        assert_eq!(VENDOR_ECX, 0x666F_736F);
        assert_eq!(VENDOR_EDX, 0x7648_2074);
        assert_eq!(INTERFACE_SIGNATURE_HV1.to_le_bytes(), *b"Hv#1");
    }

    #[test]
    fn privilege_bits_match_the_reference() {
        assert_eq!(PartitionPrivileges::ACCESS_SYNIC_REGISTERS.bits(), 0x4);
        assert_eq!(PartitionPrivileges::ACCESS_HYPERCALL_MSRS.bits(), 0x20);
        assert_eq!(PartitionPrivileges::ACCESS_VP_INDEX.bits(), 0x40);
        assert_eq!(
            PartitionPrivileges::ACCESS_PARTITION_REFERENCE_TSC.bits(),
            0x200
        );
        assert_eq!(
            PartitionPrivileges::ACCESS_FREQUENCY_REGISTERS.bits(),
            0x800
        );
        assert_eq!(PartitionPrivileges::POST_MESSAGES.bits(), 0x10 << 32);
        assert_eq!(PartitionPrivileges::SIGNAL_EVENTS.bits(), 0x20 << 32);
        assert_eq!(
            PartitionPrivileges::REQUIRED_FOR_VMBUS.to_registers(),
            (0x64, 0x30)
        );
        assert_eq!(Recommendations::AUTO_EOI_DEPRECATED.bits(), 0x200);
        assert_eq!(MiscFeatures::SINT_POLLING.bits(), 0x2_0000);
    }

    #[test]
    fn check_accepts_hyper_v_and_names_each_failure() {
        let features = hyper_v().check().unwrap();
        assert!(
            features
                .recommendations
                .contains(Recommendations::AUTO_EOI_DEPRECATED)
        );

        let mut leaves = hyper_v();
        leaves.processor_info_ecx = 0;
        assert_eq!(leaves.check(), Err(CpuidError::NoHypervisor));

        let mut leaves = hyper_v();
        leaves.vendor[0] = 0x4000_0004;
        assert_eq!(leaves.check(), Err(CpuidError::NotHyperV));

        let mut leaves = hyper_v();
        leaves.interface = 0;
        assert_eq!(leaves.check(), Err(CpuidError::WrongInterface(0)));

        let mut leaves = hyper_v();
        leaves.features[1] = 0x10;
        assert_eq!(
            leaves.check(),
            Err(CpuidError::MissingPrivileges(
                PartitionPrivileges::SIGNAL_EVENTS
            ))
        );
    }
}
