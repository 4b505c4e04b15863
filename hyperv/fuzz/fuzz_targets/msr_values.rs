//! Fuzzes the decoders of synthetic MSR values the hypervisor returns (page-control MSRs,
//! SINTs, SCONTROL, GUEST_OS_ID) and the SINT number mapping, with arbitrary 64-bit values.
//!
//! Checks: no panic; every `with_*` changes only its own field and keeps the reserved bits a
//! read-modify-write must preserve; fields read back what was set; `sint` and `sint_index`
//! are inverse on 0..16 and `None` elsewhere.
#![no_main]

use hyperv::msr::{self, GuestOsId, PageMsr, SControlMsr, SintMsr};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn run(input: &mut Unstructured) -> Result<()> {
    let bits: u64 = input.arbitrary()?;
    let enable: bool = input.arbitrary()?;
    let gpa: u64 = input.arbitrary()?;

    let page = PageMsr::from_bits(bits);
    assert_eq!(page.bits(), bits);
    assert_eq!(page.gpa(), page.page_number() << 12);
    let changed = page.with_enabled(enable).with_gpa(gpa);
    assert_eq!(changed.enabled(), enable);
    assert_eq!(changed.gpa(), gpa & !0xFFF);
    assert_eq!(changed.locked(), page.locked());
    assert_eq!(changed.bits() & 0xFFE, bits & 0xFFE, "reserved bits lost");

    let vector: u8 = input.arbitrary()?;
    let [masked, auto_eoi, polling]: [bool; 3] = input.arbitrary()?;
    let sint = SintMsr::from_bits(bits);
    assert_eq!(sint.vector(), bits as u8);
    let changed = sint
        .with_vector(vector)
        .with_masked(masked)
        .with_auto_eoi(auto_eoi)
        .with_polling(polling);
    assert_eq!(
        (
            changed.vector(),
            changed.masked(),
            changed.auto_eoi(),
            changed.polling()
        ),
        (vector, masked, auto_eoi, polling)
    );
    let fields = 0xFF | (0b111 << 16);
    assert_eq!(
        changed.bits() & !fields,
        bits & !fields,
        "reserved bits lost"
    );

    let scontrol = SControlMsr::from_bits(bits).with_enabled(enable);
    assert_eq!(scontrol.enabled(), enable);
    assert_eq!(scontrol.bits() & !1, bits & !1);

    let identity = GuestOsId(bits);
    if identity.is_open_source() {
        let rebuilt = GuestOsId::open_source(
            identity.os_type(),
            identity.os_id(),
            identity.version(),
            identity.build(),
        );
        assert_eq!(rebuilt.0, bits);
    }

    let number: u32 = input.arbitrary()?;
    match msr::sint_index(number) {
        Some(index) => {
            assert!(index < msr::SINT_COUNT);
            assert_eq!(msr::sint(index), Some(number));
        }
        None => assert!(!(msr::SINT0..=msr::SINT15).contains(&number)),
    }
    let index: u8 = input.arbitrary()?;
    match msr::sint(index) {
        Some(number) => assert_eq!(msr::sint_index(number), Some(index)),
        None => assert!(index >= msr::SINT_COUNT),
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
