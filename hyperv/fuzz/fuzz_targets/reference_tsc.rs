//! Fuzzes the reference TSC page the hypervisor publishes: arbitrary page bytes and TSC
//! readings through [`ReferenceTscPage::time_at`], and arbitrary frequencies through
//! [`scale_for_frequency`].
//!
//! Checks: no panic (the 64×64 product and the offset never overflow); sequence 0 means no
//! time; time is the upper half of the 128-bit product plus the offset (wrapping) and never
//! goes backwards as the TSC grows for a fixed page (before the offset wraps); a published
//! scale never makes the clock faster than 10 MHz.
#![no_main]

use hyperv::reference_tsc::{
    ReferenceTscPage, SEQUENCE_INVALID, TICKS_PER_SECOND, reference_time, scale_for_frequency,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use zerocopy::FromBytes;

fn run(input: &mut Unstructured) -> Result<()> {
    let bytes: [u8; 24] = input.arbitrary()?;
    let page = ReferenceTscPage::read_from_bytes(&bytes).expect("24 bytes");
    let [first, second]: [u64; 2] = input.arbitrary()?;
    let (low, high) = (first.min(second), first.max(second));
    match page.time_at(low) {
        None => assert_eq!(page.sequence, SEQUENCE_INVALID),
        Some(time) => {
            let product = ((u128::from(low) * u128::from(page.scale)) >> 64) as u64;
            assert_eq!(time, product.wrapping_add(page.offset as u64));
            let later = page.time_at(high).unwrap();
            let later_product = ((u128::from(high) * u128::from(page.scale)) >> 64) as u64;
            assert!(later_product >= product, "reference time went backwards");
            assert_eq!(later.wrapping_sub(time), later_product - product);
        }
    }

    let frequency: u64 = input.arbitrary()?;
    match scale_for_frequency(frequency) {
        None => assert!(frequency <= TICKS_PER_SECOND),
        Some(scale) => {
            assert!(frequency > TICKS_PER_SECOND);
            // One second of TSC ticks is at most 10^7 reference ticks.
            assert!(reference_time(frequency, scale, 0) <= TICKS_PER_SECOND);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
