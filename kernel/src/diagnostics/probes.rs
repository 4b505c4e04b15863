//! Report lines read straight from the machine: the ACPI OEM id (from the RSDP), the
//! hypervisor's CPUID leaves and the SynIC registers as the bus task left them.
//!
//! Facts used (Hyper-V TLFS, as `hyperv::cpuid` and `hyperv::msr` name them): leaf 0x40000000
//! gives the highest hypervisor leaf in EAX and the vendor in EBX, ECX, EDX; leaf 0x40000002
//! gives the build number in EAX and major.minor in EBX (bits 31:16, 15:0) on Microsoft's
//! hypervisor; SCONTROL bit 0, SIMP bit 0 and SIEFP bit 0 are the enable bits, and a SINT's bit
//! 16 masks it (bits 7:0: its vector). The RSDP holds its 6-byte OEM id at offset 9 (ACPI 6.5
//! §5.2.5.3).

use alloc::string::String;

use boot_info::BootInfo;
use hyperv::cpuid::{HYPERVISOR_PRESENT_ECX_BIT, LEAF_PROCESSOR_INFO, LEAF_VENDOR, LEAF_VERSION};
use hyperv::cpuid::{HypervisorFeatures, PartitionPrivileges};
use hyperv::msr;
use hyperv::platform::HypervisorBackend;
use hyperv::synic::VMBUS_SINT;
use x86_64::PhysAddr;

use crate::arch::cpu::cpuid;
use crate::hypervisor::Backend;
use crate::hypervisor::real::RealHypervisor;
use crate::memory::registers::RegisterBlock;

/// The last hypervisor leaf printed, whatever the highest leaf says (a bound on the lines).
const LAST_PRINTED_LEAF: u32 = 0x4000_001f;
/// The SINT the VMBus uses (`hyperv::synic::VMBUS_SINT`) is the only one dxgos programs.
const SINT_MASKED: u64 = 1 << 16;

/// Writes `hvdiag: firmware ...`: what the kernel got from the stub (RSDP, framebuffer,
/// memory map size).
pub fn report_firmware(boot_info: &BootInfo) {
    let framebuffer = &boot_info.framebuffer;
    let usable_bytes: u64 = boot_info
        .memory_regions()
        .iter()
        .filter(|region| region.kind() == boot_info::MemoryKind::Usable)
        .map(|region| region.length)
        .sum();
    hvdiag!(
        "firmware rsdp=0x{:x} memory-regions={} usable={} MiB framebuffer=0x{:x}+0x{:x} mode={}x{} stride={} format={}",
        boot_info.rsdp_address,
        boot_info.memory_regions().len(),
        usable_bytes >> 20,
        framebuffer.physical_address,
        framebuffer.size,
        framebuffer.width,
        framebuffer.height,
        framebuffer.stride,
        framebuffer.pixel_format
    );
}

/// Writes `hvdiag: platform oem=<ACPI OEM id> hypervisor=<vendor> version=<build>` (under the
/// emulated host also `cpuid-vendor=<vendor> link=<ivshmem|com2>`, the transport to it) and the raw
/// hypervisor CPUID leaves (`hvdiag: cpuid 0x4000000N eax=.. ebx=.. ecx=.. edx=..`).
pub fn report_platform(rsdp_address: u64, backend: &Backend) {
    let oem = acpi_oem_id(rsdp_address).unwrap_or_else(|| String::from("unknown"));
    let (_, _, processor_info_ecx, _) = cpuid(LEAF_PROCESSOR_INFO, 0);
    let hypervisor_present = processor_info_ecx & HYPERVISOR_PRESENT_ECX_BIT != 0;
    match backend {
        Backend::Real(_) => {
            let (build, major_minor, _, _) = cpuid(LEAF_VERSION, 0);
            hvdiag!(
                "platform oem={oem} hypervisor={} version={}.{}.{}",
                cpuid_vendor(),
                major_minor >> 16,
                major_minor & 0xffff,
                build
            );
        }
        Backend::Emulated(link) => {
            let cpu_vendor = if hypervisor_present {
                cpuid_vendor()
            } else {
                String::from("none")
            };
            let transport = crate::hypervisor::emulated_link_name().unwrap_or("unknown");
            hvdiag!(
                "platform oem={oem} hypervisor=dxgos-emulator version={} cpuid-vendor={cpu_vendor} \
                 link={}",
                link.host_version(),
                transport.to_ascii_lowercase()
            );
        }
    }
    if !hypervisor_present {
        hvdiag!("cpuid hypervisor-present=0 (no hypervisor leaves)");
        return;
    }
    let (highest, _, _, _) = cpuid(LEAF_VENDOR, 0);
    let last = if (LEAF_VENDOR..=hyperv::cpuid::MAXIMUM_MAX_LEAF).contains(&highest) {
        highest.min(LAST_PRINTED_LEAF)
    } else {
        LEAF_VENDOR
    };
    for leaf in LEAF_VENDOR..=last {
        let (eax, ebx, ecx, edx) = cpuid(leaf, 0);
        hvdiag!(
            "cpuid 0x{leaf:08x} eax=0x{eax:08x} ebx=0x{ebx:08x} ecx=0x{ecx:08x} edx=0x{edx:08x}"
        );
    }
}

/// Reads back the SynIC registers the bus task programmed (SCONTROL, SVERSION, SIMP, SIEFP and
/// the VMBus SINT) and writes them as `hvdiag: synic ...`. On Hyper-V returns why the SynIC is
/// not usable when an enable bit is clear or the SINT is masked. Under the emulator the MSRs
/// are reachable only through the bus task's link to the emulator, so nothing is read.
pub fn report_synic(
    backend_is_real: bool,
    features: Option<&HypervisorFeatures>,
) -> Result<(), String> {
    if !backend_is_real {
        hvdiag!(
            "synic read-back skipped (emulated host: its MSRs are reached only by the bus task)"
        );
        return Ok(());
    }
    let granted = features.is_some_and(|features| {
        features
            .privileges
            .contains(PartitionPrivileges::ACCESS_SYNIC_REGISTERS)
    });
    if !granted {
        hvdiag!("synic read-back skipped (no SynIC register privilege)");
        return Err(String::from(
            "the partition lacks the SynIC register privilege",
        ));
    }
    let mut hypervisor = RealHypervisor::new();
    let mut read = |register: u32| hypervisor.read_msr(register).unwrap_or(0);
    let sint_register = msr::sint(VMBUS_SINT).unwrap_or(msr::SINT0);
    let scontrol = read(msr::SCONTROL);
    let sversion = read(msr::SVERSION);
    let simp = read(msr::SIMP);
    let siefp = read(msr::SIEFP);
    let sint = read(sint_register);
    hvdiag!(
        "synic scontrol=0x{scontrol:x} sversion=0x{sversion:x} simp=0x{simp:x} siefp=0x{siefp:x} sint{VMBUS_SINT}=0x{sint:x}"
    );
    if scontrol & 1 == 0 {
        return Err(String::from("SCONTROL reads back disabled"));
    }
    if simp & 1 == 0 || siefp & 1 == 0 {
        return Err(String::from("SIMP or SIEFP reads back disabled"));
    }
    if sint & SINT_MASKED != 0 || sint & 0xff == 0 {
        return Err(alloc::format!(
            "SINT{VMBUS_SINT} reads back masked or without a vector"
        ));
    }
    Ok(())
}

/// The CPUID vendor string of leaf 0x40000000 (`Microsoft_Hv` on Hyper-V: its space as `_`).
fn cpuid_vendor() -> String {
    let (_, ebx, ecx, edx) = cpuid(LEAF_VENDOR, 0);
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&ebx.to_le_bytes());
    bytes[4..8].copy_from_slice(&ecx.to_le_bytes());
    bytes[8..].copy_from_slice(&edx.to_le_bytes());
    printable(&bytes)
}

/// The OEM id of the RSDP at `rsdp_address`, when it is mapped and has the RSDP signature.
fn acpi_oem_id(rsdp_address: u64) -> Option<String> {
    let mut bytes = [0u8; 16];
    let physical = PhysAddr::try_new(rsdp_address).ok()?;
    if rsdp_address == 0 {
        return None;
    }
    // Firmware memory through the window (refused if it is kernel RAM or unmapped).
    RegisterBlock::in_window(physical, 16)?
        .copy_to_slice(0, &mut bytes)
        .ok()?;
    if &bytes[..8] != b"RSD PTR " {
        return None;
    }
    Some(printable(&bytes[9..15]))
}

/// `bytes` as text: trailing spaces and NULs dropped, other unprintable bytes and spaces as
/// `_` (so the value stays one `key=value` word).
fn printable(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .rposition(|byte| *byte != b' ' && *byte != 0)
        .map_or(0, |position| position + 1);
    bytes[..end]
        .iter()
        .map(|byte| {
            if byte.is_ascii_graphic() {
                char::from(*byte)
            } else {
                '_'
            }
        })
        .collect()
}
