//! Both backends against register files that follow the SDM's rules independently of the
//! code under test (the MSR numbers and offsets below are typed from the SDM tables, not
//! derived from [`Register`]).

use core::cell::RefCell;
use std::collections::BTreeMap;
use std::vec::Vec;

use super::*;

/// An xAPIC page: a plain array of registers, with a log of stores.
#[derive(Default)]
struct FakePage {
    registers: RefCell<BTreeMap<u16, u32>>,
    stores: RefCell<Vec<(u16, u32)>>,
    loads: RefCell<Vec<u16>>,
}

impl MmioWindow for &FakePage {
    fn read32(&self, offset: u16) -> u32 {
        assert!(
            offset < 0x400 && offset.is_multiple_of(16),
            "offset {offset:#x}"
        );
        self.loads.borrow_mut().push(offset);
        self.registers.borrow().get(&offset).copied().unwrap_or(0)
    }
    fn write32(&self, offset: u16, value: u32) {
        assert!(
            offset < 0x400 && offset.is_multiple_of(16),
            "offset {offset:#x}"
        );
        self.stores.borrow_mut().push((offset, value));
        self.registers.borrow_mut().insert(offset, value);
    }
}

/// The x2APIC MSRs of SDM table 10-6 that matter here, with what faults (#GP) recorded.
#[derive(Default)]
struct FakeX2Apic {
    values: RefCell<BTreeMap<u32, u64>>,
    writes: RefCell<Vec<(u32, u64)>>,
    faults: RefCell<Vec<&'static str>>,
}

const READ_ONLY_MSRS: [u32; 3] = [0x802, 0x803, 0x839];
const WRITE_ONLY_MSRS: [u32; 2] = [0x80b, 0x83f];
const READ_WRITE_MSRS: [u32; 7] = [0x808, 0x80f, 0x828, 0x830, 0x832, 0x838, 0x83e];

impl ModelSpecificRegisters for &FakeX2Apic {
    fn read_msr(&self, msr: u32) -> u64 {
        if WRITE_ONLY_MSRS.contains(&msr) {
            self.faults
                .borrow_mut()
                .push("read of a write-only register");
        } else if !READ_ONLY_MSRS.contains(&msr) && !READ_WRITE_MSRS.contains(&msr) {
            self.faults.borrow_mut().push("read of an absent register");
        }
        self.values.borrow().get(&msr).copied().unwrap_or(0)
    }
    fn write_msr(&self, msr: u32, value: u64) {
        if READ_ONLY_MSRS.contains(&msr) {
            self.faults
                .borrow_mut()
                .push("write of a read-only register");
        } else if !WRITE_ONLY_MSRS.contains(&msr) && !READ_WRITE_MSRS.contains(&msr) {
            self.faults.borrow_mut().push("write of an absent register");
        } else if matches!(msr, 0x80b | 0x828) && value != 0 {
            self.faults
                .borrow_mut()
                .push("non-zero write to EOI or ESR");
        } else if msr != 0x830 && value >> 32 != 0 {
            self.faults.borrow_mut().push("reserved upper bits set");
        }
        self.writes.borrow_mut().push((msr, value));
        self.values.borrow_mut().insert(msr, value);
    }
}

fn no_budget() -> impl FnMut() -> bool {
    || panic!("x2APIC has no delivery status to wait for")
}

#[test]
fn x2apic_msr_numbers_are_0x800_plus_offset_over_16() {
    let expected = [
        (Register::Id, 0x20, 0x802),
        (Register::Version, 0x30, 0x803),
        (Register::TaskPriority, 0x80, 0x808),
        (Register::EndOfInterrupt, 0xb0, 0x80b),
        (Register::SpuriousInterruptVector, 0xf0, 0x80f),
        (Register::ErrorStatus, 0x280, 0x828),
        (Register::TimerLocalVector, 0x320, 0x832),
        (Register::TimerInitialCount, 0x380, 0x838),
        (Register::TimerCurrentCount, 0x390, 0x839),
        (Register::TimerDivideConfiguration, 0x3e0, 0x83e),
    ];
    for (register, offset, msr) in expected {
        assert_eq!(register.xapic_offset(), offset, "{register:?}");
        assert_eq!(register.x2apic_msr(), msr, "{register:?}");
    }
    assert_eq!(expected.len(), Register::ALL.len());
    assert_eq!(registers::X2APIC_INTERRUPT_COMMAND, 0x830);
}

#[test]
fn x2apic_backend_runs_every_operation_without_a_fault() {
    let msrs = FakeX2Apic::default();
    msrs.values
        .borrow_mut()
        .insert(0x839, u64::from(u32::MAX - 1234));
    let apic = LocalApic::new(X2ApicRegisters::new(&msrs));
    apic.enable(0xff).unwrap();
    apic.start_calibration_count().unwrap();
    assert_eq!(apic.stop_calibration_count(), Ok(1234));
    apic.start_periodic_timer(0x20, 62_500).unwrap();
    apic.send_self_interrupt(0x40, no_budget()).unwrap();
    apic.end_of_interrupt().unwrap();
    assert_eq!(*msrs.faults.borrow(), Vec::<&str>::new());
    let writes = msrs.writes.borrow();
    assert_eq!(writes[0], (0x808, 0));
    assert_eq!(writes[1], (0x80f, 0x1ff));
    assert!(writes.contains(&(0x832, (1 << 17) | 0x20)));
    assert!(writes.contains(&(0x838, 62_500)));
    // One 64-bit write: shorthand "self" (bits 19:18 = 01), assert (bit 14), vector 0x40.
    assert!(writes.contains(&(0x830, 0x0000_0000_0004_4040)));
    assert!(!writes.iter().any(|&(msr, _)| msr == 0x831));
    assert_eq!(writes.last(), Some(&(0x80b, 0)));
}

#[test]
fn x2apic_id_is_32_bits_wide() {
    let msrs = FakeX2Apic::default();
    msrs.values.borrow_mut().insert(0x802, 0x0001_0203);
    let apic = LocalApic::new(X2ApicRegisters::new(&msrs));
    assert_eq!(apic.id(), 0x0001_0203);
    assert!(msrs.faults.borrow().is_empty());
}

#[test]
fn xapic_id_is_bits_31_to_24() {
    let page = FakePage::default();
    page.registers.borrow_mut().insert(0x20, 0x0300_0000);
    let apic = LocalApic::new(XApicRegisters::new(&page, 0xfee0_0000));
    assert_eq!(apic.id(), 3);
}

#[test]
fn xapic_backend_writes_the_icr_high_half_first_and_waits_for_delivery() {
    let page = FakePage::default();
    let apic = LocalApic::new(XApicRegisters::new(&page, 0xfee0_0000));
    apic.enable(0xff).unwrap();
    apic.send_self_interrupt(0x40, || false).unwrap();
    apic.end_of_interrupt().unwrap();
    let stores = page.stores.borrow();
    assert_eq!(&stores[..2], &[(0x80, 0), (0xf0, 0x1ff)]);
    let high = stores
        .iter()
        .position(|&store| store == (0x310, 0))
        .unwrap();
    let low = stores
        .iter()
        .position(|&store| store == (0x300, 0x44040))
        .unwrap();
    assert!(high < low);
    assert_eq!(stores.last(), Some(&(0xb0, 0)));
    assert!(
        page.loads.borrow().contains(&0x300),
        "delivery status was not polled"
    );
}

#[test]
fn xapic_delivery_wait_gives_up_when_the_budget_expires() {
    let page = FakePage::default();
    // A page whose ICR always reads "send pending".
    struct Stuck<'a>(&'a FakePage);
    impl MmioWindow for Stuck<'_> {
        fn read32(&self, offset: u16) -> u32 {
            if offset == 0x300 {
                1 << 12
            } else {
                self.0.read32(offset)
            }
        }
        fn write32(&self, offset: u16, value: u32) {
            self.0.write32(offset, value);
        }
    }
    let apic = LocalApic::new(XApicRegisters::new(Stuck(&page), 0xfee0_0000));
    let mut polls = 0;
    let result = apic.send_self_interrupt(0x40, || {
        polls += 1;
        polls == 3
    });
    assert_eq!(result, Err(ApicError::DeliveryTimeout));
    assert_eq!(polls, 3);
}

#[test]
fn write_only_and_read_only_registers_are_refused_before_any_access() {
    let msrs = FakeX2Apic::default();
    let x2apic = X2ApicRegisters::new(&msrs);
    assert_eq!(
        x2apic.read(Register::EndOfInterrupt),
        Err(ApicError::WriteOnly(Register::EndOfInterrupt))
    );
    assert_eq!(
        x2apic.write(Register::Id, 1),
        Err(ApicError::ReadOnly(Register::Id))
    );
    assert_eq!(
        x2apic.write(Register::TimerCurrentCount, 1),
        Err(ApicError::ReadOnly(Register::TimerCurrentCount))
    );
    assert_eq!(
        x2apic.write(Register::EndOfInterrupt, 1),
        Err(ApicError::MustWriteZero(Register::EndOfInterrupt))
    );
    assert_eq!(
        x2apic.write(Register::ErrorStatus, 4),
        Err(ApicError::MustWriteZero(Register::ErrorStatus))
    );
    assert!(msrs.writes.borrow().is_empty());
    assert!(msrs.faults.borrow().is_empty());

    let page = FakePage::default();
    let xapic = XApicRegisters::new(&page, 0xfee0_0000);
    assert_eq!(
        xapic.read(Register::EndOfInterrupt),
        Err(ApicError::WriteOnly(Register::EndOfInterrupt))
    );
    assert!(page.loads.borrow().is_empty());
}

#[test]
fn every_readable_register_reads_without_a_fault_in_x2apic_mode() {
    let msrs = FakeX2Apic::default();
    let x2apic = X2ApicRegisters::new(&msrs);
    for register in Register::ALL {
        let result = x2apic.read(register);
        assert_eq!(result.is_ok(), register.access() != Access::WriteOnly);
    }
    assert!(msrs.faults.borrow().is_empty());
}

#[test]
fn physical_destinations_fit_8_bits_in_xapic_and_32_bits_in_x2apic() {
    let command = InterruptCommand {
        vector: 0x30,
        destination: Destination::Physical(0x1_0000),
    };
    assert_eq!(
        command.xapic_encoding(),
        Err(ApicError::DestinationOutOfRange(0x1_0000))
    );
    assert_eq!(command.x2apic_encoding(), Ok(0x0001_0000_0000_4030));
    let small = InterruptCommand {
        vector: 0x30,
        destination: Destination::Physical(7),
    };
    assert_eq!(small.xapic_encoding(), Ok((0x0700_0000, 0x4030)));
    let all = InterruptCommand {
        vector: 0x31,
        destination: Destination::AllExcludingSelf,
    };
    assert_eq!(all.x2apic_encoding(), Ok(0xc4031));
    assert_eq!(
        InterruptCommand::to_self(15).x2apic_encoding(),
        Err(ApicError::IllegalVector(15))
    );
}

#[test]
fn mode_follows_en_and_extd() {
    // EN + BSP, base 0xFEE00000: xAPIC at the MSR's base.
    assert_eq!(
        choose_mode(0xfee0_0900, 39),
        Ok(ModeChoice {
            mode: ApicMode::XApic { base: 0xfee0_0000 },
            enable_with: None
        })
    );
    // EN + EXTD: x2APIC (the state the old kernel refused to boot in).
    assert_eq!(
        choose_mode(0xfee0_0d00, 39),
        Ok(ModeChoice {
            mode: ApicMode::X2Apic,
            enable_with: None
        })
    );
    // Globally disabled: enable, then xAPIC.
    assert_eq!(
        choose_mode(0xfee0_0100, 39),
        Ok(ModeChoice {
            mode: ApicMode::XApic { base: 0xfee0_0000 },
            enable_with: Some(ApicBase(0xfee0_0900))
        })
    );
    // EXTD without EN is invalid.
    assert_eq!(
        choose_mode(0xfee0_0500, 39),
        Err(ModeError::InvalidState(ApicBase(0xfee0_0500)))
    );
    assert_eq!(
        choose_mode(0x900, 39),
        Err(ModeError::NoBase(ApicBase(0x900)))
    );
}

#[test]
fn the_base_comes_from_the_msr_within_the_physical_address_width() {
    // A relocated base, and bits above MAXPHYADDR (39) that are not part of it.
    let choice = choose_mode(0x0000_0080_fec0_0800 | (1 << 45), 39).unwrap();
    assert_eq!(
        choice.mode,
        ApicMode::XApic {
            base: 0x80_fec0_0000 & ((1 << 39) - 1)
        }
    );
    let wide = choose_mode(0x0000_0080_fec0_0800, 52).unwrap();
    assert_eq!(
        wide.mode,
        ApicMode::XApic {
            base: 0x80_fec0_0000
        }
    );
    assert!(wide.mode.agrees_with_madt(0x80_fec0_0000));
    assert!(!wide.mode.agrees_with_madt(0xfee0_0000));
    assert!(ApicMode::X2Apic.agrees_with_madt(0xfee0_0000));
}

#[test]
fn modes_print_as_the_boot_report_expects() {
    use std::string::ToString;
    assert_eq!(
        ApicMode::XApic { base: 0xfee0_0000 }.to_string(),
        "xapic base=0xfee00000"
    );
    assert_eq!(ApicMode::X2Apic.to_string(), "x2apic");
}
