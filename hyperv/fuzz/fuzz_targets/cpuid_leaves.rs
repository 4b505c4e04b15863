//! Fuzzes [`HypervisorLeaves::check`], the guest's decoder of the CPUID leaves the hypervisor
//! reports, with arbitrary register values (often close to a real Hyper-V's, so every check
//! is reached).
//!
//! Checks: no panic; the first failing step of reference §0 is the error reported; success
//! means every VMBus privilege is present, and the feature masks are the registers verbatim.
#![no_main]

use hyperv::cpuid::{
    CpuidError, HYPERVISOR_PRESENT_ECX_BIT, HypervisorLeaves, INTERFACE_SIGNATURE_HV1,
    MAXIMUM_MAX_LEAF, MINIMUM_MAX_LEAF, PartitionPrivileges, VENDOR_EBX, VENDOR_ECX, VENDOR_EDX,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// A value that is usually `good`, sometimes anything.
fn mostly(input: &mut Unstructured, good: u32) -> Result<u32> {
    Ok(if input.ratio(3, 4)? {
        good
    } else {
        input.arbitrary()?
    })
}

fn run(input: &mut Unstructured) -> Result<()> {
    let required = PartitionPrivileges::REQUIRED_FOR_VMBUS.to_registers();
    let leaves = HypervisorLeaves {
        processor_info_ecx: input.arbitrary::<u32>()? | mostly(input, HYPERVISOR_PRESENT_ECX_BIT)?,
        vendor: [
            mostly(input, MINIMUM_MAX_LEAF)?,
            mostly(input, VENDOR_EBX)?,
            mostly(input, VENDOR_ECX)?,
            mostly(input, VENDOR_EDX)?,
        ],
        interface: mostly(input, INTERFACE_SIGNATURE_HV1)?,
        features: [
            input.arbitrary::<u32>()? | mostly(input, required.0)?,
            input.arbitrary::<u32>()? | mostly(input, required.1)?,
            input.arbitrary()?,
            input.arbitrary()?,
        ],
        recommendations: input.arbitrary()?,
    };
    let result = leaves.check();
    let present = leaves.processor_info_ecx & HYPERVISOR_PRESENT_ECX_BIT != 0;
    let [max_leaf, ebx, ecx, edx] = leaves.vendor;
    let hyper_v = (MINIMUM_MAX_LEAF..=MAXIMUM_MAX_LEAF).contains(&max_leaf)
        && (ebx, ecx, edx) == (VENDOR_EBX, VENDOR_ECX, VENDOR_EDX);
    let privileges = PartitionPrivileges::from_registers(leaves.features[0], leaves.features[1]);
    assert_eq!(
        privileges.to_registers(),
        (leaves.features[0], leaves.features[1])
    );
    let missing = privileges.missing_for_vmbus();
    let expected = if !present {
        Err(CpuidError::NoHypervisor)
    } else if !hyper_v {
        Err(CpuidError::NotHyperV)
    } else if leaves.interface != INTERFACE_SIGNATURE_HV1 {
        Err(CpuidError::WrongInterface(leaves.interface))
    } else if !missing.is_empty() {
        Err(CpuidError::MissingPrivileges(missing))
    } else {
        Ok(())
    };
    match (result, expected) {
        (Ok(features), Ok(())) => {
            assert!(
                features
                    .privileges
                    .contains(PartitionPrivileges::REQUIRED_FOR_VMBUS)
            );
            assert_eq!(features.privileges, privileges);
            assert_eq!(features.misc.bits(), leaves.features[3]);
            assert_eq!(features.recommendations.bits(), leaves.recommendations);
        }
        (Err(error), Err(expected)) => {
            assert_eq!(error, expected);
            if let CpuidError::MissingPrivileges(missing) = error {
                assert!(!missing.is_empty());
                assert!(PartitionPrivileges::REQUIRED_FOR_VMBUS.contains(missing));
            }
        }
        (result, expected) => panic!("check gave {result:?}, expected {expected:?}"),
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
