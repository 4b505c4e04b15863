//! Host unit tests: the host's answers against the hand-written vectors of vpci.md §10.3.

use super::*;
use crate::vgpu::VgpuPciConfig;
use dxg::wire::{Guid, Luid};
use hyperv::mmio::{MmioGaps, MmioRange};

const WINDOW: u64 = 0x0000_0010_0000_0000;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|byte| u8::from_str_radix(byte, 16).unwrap())
        .collect()
}

/// §10.3 G's function: GUID {01234567-89AB-CDEF-0123-456789ABCDEF}, version 40, LUID 0xABCD.
fn host() -> VpciHost {
    let guid = Guid::from_bytes(
        hex("67 45 23 01 AB 89 EF CD 01 23 45 67 89 AB CD EF")
            .try_into()
            .unwrap(),
    );
    let config = VgpuPciConfig::new(guid, Luid::from_u64(0xABCD));
    VpciHost::new(VpciFunction::gpu_pv(config, 0x1234_5678))
}

fn outputs(host: &mut VpciHost) -> Vec<HostPacket> {
    core::iter::from_fn(|| host.poll_output()).collect()
}

fn completion(id: u64, payload: Vec<u8>) -> HostPacket {
    HostPacket {
        packet_type: PacketType::COMPLETION,
        transaction_id: id,
        payload,
    }
}

fn message(payload: Vec<u8>) -> HostPacket {
    HostPacket {
        packet_type: PacketType::DATA_IN_BAND,
        transaction_id: 0,
        payload,
    }
}

fn in_band(
    host: &mut VpciHost,
    id: u64,
    requested: bool,
    payload: &str,
) -> Result<(), VpciHostError> {
    host.receive(PacketType::DATA_IN_BAND, id, requested, &hex(payload))
}

/// C's payload: BUS_RELATIONS2 with 1414:008E at slot 0, serial 0x12345678 (52 bytes).
const RELATIONS2: &str = "19 00 49 42 01 00 00 00  14 14 8E 00 00 00 02 03
    00 00 00 00 00 00 00 00  78 56 34 12 00 00 00 00  00 00 00 00";

fn brought_up() -> VpciHost {
    let mut host = host();
    in_band(&mut host, 1, true, "13 00 49 42 04 00 01 00").unwrap();
    in_band(&mut host, 0, false, "01 00 49 42").unwrap();
    in_band(&mut host, 2, true, "05 00 49 42 00 00 00 00").unwrap();
    in_band(
        &mut host,
        3,
        true,
        "07 00 49 42 00 00 00 00 00 00 00 00 10 00 00 00",
    )
    .unwrap();
    let mut assigned = hex("16 00 49 42 00 00 00 00");
    assigned.resize(202, 0);
    host.receive(PacketType::DATA_IN_BAND, 4, true, &assigned)
        .unwrap();
    outputs(&mut host);
    host
}

#[test]
fn answers_the_reference_bring_up() {
    let mut host = host();
    // A → A'.
    in_band(&mut host, 1, true, "13 00 49 42 04 00 01 00").unwrap();
    assert_eq!(outputs(&mut host), vec![completion(1, hex("00 00 00 00"))]);
    assert_eq!(host.version(), Some(0x0001_0004));
    // B → C.
    in_band(&mut host, 0, false, "01 00 49 42 00 00 00 00").unwrap();
    assert_eq!(outputs(&mut host), vec![message(hex(RELATIONS2))]);
    // D → D'.
    in_band(&mut host, 2, true, "05 00 49 42 00 00 00 00").unwrap();
    assert_eq!(outputs(&mut host), vec![completion(2, vec![0; 28])]);
    // E → C again, then E'.
    in_band(
        &mut host,
        3,
        true,
        "07 00 49 42 00 00 00 00 00 00 00 00 10 00 00 00",
    )
    .unwrap();
    assert_eq!(
        outputs(&mut host),
        vec![message(hex(RELATIONS2)), completion(3, hex("00 00 00 00"))]
    );
    assert_eq!(host.window(), Some(WINDOW));
    // F → F' (OpenVMM's 136-byte form).
    let mut assigned = hex("16 00 49 42 00 00 00 00");
    assigned.resize(202, 0);
    host.receive(PacketType::DATA_IN_BAND, 4, true, &assigned)
        .unwrap();
    assert_eq!(outputs(&mut host), vec![completion(4, vec![0; 136])]);
    assert!(host.resources_assigned());
    assert!(host.errors().is_empty());
}

#[test]
fn version_negotiation_rules() {
    let mut host = host();
    // Anything before the version: BAD_DATA.
    assert_eq!(
        in_band(&mut host, 1, true, "05 00 49 42 00 00 00 00"),
        Err(VpciHostError::OutOfOrder(0x4249_0005))
    );
    assert_eq!(outputs(&mut host), vec![completion(1, hex("0B 09 00 C0"))]);
    // 2.0 and 1.0: REVISION_MISMATCH.
    for version in ["00 00 02 00", "00 00 01 00"] {
        let request = format!("13 00 49 42 {version}");
        assert!(in_band(&mut host, 2, true, &request).is_err());
        assert_eq!(outputs(&mut host), vec![completion(2, hex("59 00 00 C0"))]);
    }
    // 1.1 accepted, then BUS_RELATIONS v1 (20-byte description).
    in_band(&mut host, 3, true, "13 00 49 42 01 00 01 00").unwrap();
    outputs(&mut host);
    in_band(&mut host, 0, false, "01 00 49 42").unwrap();
    assert_eq!(
        outputs(&mut host),
        vec![message(hex(
            "00 00 49 42 01 00 00 00  14 14 8E 00 00 00 02 03  00 00 00 00 00 00 00 00  78 56 34 12"
        ))]
    );
    // A second negotiation is refused.
    assert_eq!(
        in_band(&mut host, 4, true, "13 00 49 42 04 00 01 00"),
        Err(VpciHostError::OutOfOrder(0x4249_0013))
    );
    assert_eq!(outputs(&mut host), vec![completion(4, hex("0B 09 00 C0"))]);
    assert_eq!(host.version(), Some(0x0001_0001));
}

#[test]
fn bad_requests_get_bad_data_and_the_channel_lives() {
    let mut host = brought_up();
    // Slot 1, unknown type, truncated, short RESOURCES_ASSIGNED.
    assert_eq!(
        in_band(&mut host, 5, true, "05 00 49 42 01 00 00 00"),
        Err(VpciHostError::BadSlot(1))
    );
    assert_eq!(
        in_band(
            &mut host,
            6,
            true,
            "04 00 49 42 00 00 00 00 01 00 00 00 00 00 00 00"
        ),
        Err(VpciHostError::UnknownMessage(0x4249_0004))
    );
    assert!(in_band(&mut host, 7, true, "05 00 49").is_err());
    assert!(in_band(&mut host, 8, true, "16 00 49 42 00 00 00 00").is_err());
    let bad = hex("0B 09 00 C0");
    assert_eq!(
        outputs(&mut host),
        (5..=8)
            .map(|id| completion(id, bad.clone()))
            .collect::<Vec<_>>()
    );
    // No completion requested: none sent. Id 0 with completion requested: none either.
    assert!(in_band(&mut host, 0, false, "77 00 49 42").is_err());
    assert!(in_band(&mut host, 0, true, "05 00 49 42 00 00 00 00").is_err());
    assert!(
        host.receive(PacketType::COMPLETION, 9, false, &[0; 8])
            .is_err()
    );
    assert_eq!(outputs(&mut host), vec![]);
    // Unaligned window.
    assert_eq!(
        in_band(
            &mut host,
            10,
            true,
            "07 00 49 42 00 00 00 00 00 08 00 00 10 00 00 00"
        ),
        Err(VpciHostError::BadWindow(0x10_0000_0800))
    );
    assert_eq!(outputs(&mut host), vec![completion(10, hex("0D 00 00 C0"))]);
    assert_eq!(host.window(), Some(WINDOW));
    assert_eq!(host.statistics().errors, 8);
}

#[test]
fn config_space_through_the_window_matches_vector_g() {
    let mut host = brought_up();
    let w = WINDOW;
    assert!(host.mmio_write(w, 4, 0));
    assert!(host.mmio_write(w + 0x10D4, 4, 1));
    assert_eq!(host.mmio_read(w + 0x10D0, 4), Some(0x28));
    assert!(host.mmio_write(w + 0x10D0, 4, 0x28));
    assert_eq!(host.mmio_read(w + 0x10DC, 4), Some(0));
    assert_eq!(host.mmio_read(w + 0x10C0, 4), Some(0x0123_4567));
    assert_eq!(host.mmio_read(w + 0x10C4, 4), Some(0xCDEF_89AB));
    assert_eq!(host.mmio_read(w + 0x10C8, 4), Some(0x6745_2301));
    assert_eq!(host.mmio_read(w + 0x10CC, 4), Some(0xEFCD_AB89));
    assert_eq!(host.mmio_read(w + 0x10D4, 4), Some(0xABCD));
    assert_eq!(host.mmio_read(w + 0x10D8, 4), Some(0));
    assert_eq!(host.function().config.guest_caps, 1);
    assert_eq!(host.function().config.guest_version, 0x28);
    // Header: ids, class, sub-dword reads.
    assert_eq!(host.mmio_read(w + 0x1000, 4), Some(0x008E_1414));
    assert_eq!(host.mmio_read(w + 0x1002, 2), Some(0x008E));
    assert_eq!(host.mmio_read(w + 0x1008, 4), Some(0x0302_0000));
    assert_eq!(host.mmio_read(w + 0x100B, 1), Some(0x03));
    assert!(host.mmio_write(w + 0x1004, 2, 0x0006));
    assert_eq!(host.mmio_read(w + 0x1004, 4), Some(0x0006));
    // Another slot: all ones, writes dropped.
    assert!(host.mmio_write(w, 4, 0x41));
    assert_eq!(host.mmio_read(w + 0x1000, 4), Some(0xFFFF_FFFF));
    assert_eq!(host.mmio_read(w + 0x1000, 2), Some(0xFFFF));
    assert!(host.mmio_write(w + 0x10D0, 4, 7));
    assert_eq!(host.function().config.guest_version, 0x28);
    // Malformed accesses inside the window; accesses outside it.
    assert_eq!(host.mmio_read(w, 4), None);
    assert_eq!(host.mmio_read(w + 0x1002, 4), None);
    assert_eq!(host.mmio_read(w + 0x1000, 8), None);
    assert!(!host.mmio_write(w + 4, 4, 0));
    assert_eq!(host.statistics().bad_mmio_accesses, 4);
    assert_eq!(host.mmio_read(w + 0x2000, 4), None);
    assert_eq!(host.mmio_read(w - 4, 4), None);
    // D0 exit stops trapping.
    in_band(&mut host, 9, true, "08 00 49 42").unwrap();
    assert_eq!(outputs(&mut host), vec![completion(9, hex("00 00 00 00"))]);
    assert_eq!(host.mmio_read(w + 0x1000, 4), None);
    assert!(!host.mmio_write(w, 4, 0));
}

#[test]
fn nothing_is_trapped_before_d0_entry() {
    let mut host = host();
    assert_eq!(host.mmio_read(WINDOW + 0x1000, 4), None);
    assert!(!host.mmio_write(WINDOW, 4, 0));
}

#[test]
fn host_initiated_eject() {
    let mut host = brought_up();
    assert!(host.eject());
    assert!(!host.eject());
    assert_eq!(
        outputs(&mut host),
        vec![message(hex("0B 00 49 42 00 00 00 00"))]
    );
    assert_eq!(host.eject_state(), EjectState::Requested);
    in_band(&mut host, 0, false, "0F 00 49 42 00 00 00 00 00 00 00 00").unwrap();
    assert_eq!(host.eject_state(), EjectState::Completed);
    assert_eq!(outputs(&mut host), vec![]);
    // The function is gone: all-ones config, empty relations, BAD_DATA for its slot.
    assert!(host.mmio_write(WINDOW, 4, 0));
    assert_eq!(host.mmio_read(WINDOW + 0x1000, 4), Some(0xFFFF_FFFF));
    in_band(&mut host, 0, false, "01 00 49 42").unwrap();
    assert_eq!(
        outputs(&mut host),
        vec![message(hex("19 00 49 42 00 00 00 00"))]
    );
    assert!(!host.eject());
}

#[test]
fn unsolicited_ejection_complete_is_an_error() {
    let mut host = brought_up();
    assert!(in_band(&mut host, 0, false, "0F 00 49 42 00 00 00 00 00 00 00 00").is_err());
    assert_eq!(host.eject_state(), EjectState::None);
}

#[test]
fn serves_as_the_host_services_virtual_pci() {
    use crate::services::VirtualPciService;
    use crate::vmbus_server::{ReplyKind, ServicePacket};
    let mut host = host();
    let service: &mut dyn VirtualPciService = &mut host;
    service.receive(ServicePacket {
        relid: 3,
        class: vmbus::guid::class::VIRTUAL_PCI,
        instance: vmbus::guid::class::VIRTUAL_PCI,
        packet_type: PacketType::DATA_IN_BAND,
        transaction_id: 1,
        completion_requested: true,
        payload: &hex("13 00 49 42 04 00 01 00"),
    });
    assert_eq!(
        service.poll_packet(),
        Some((ReplyKind::Completion, 1, hex("00 00 00 00")))
    );
    assert_eq!(service.poll_packet(), None);
    assert_eq!(service.mmio_read(WINDOW + 0x1000, 4), None);
    assert_eq!(
        service.gpu_pv_config().map(|config| config.host_version),
        Some(40)
    );
    let nic = VpciHost::new(VpciFunction::network_vf(1));
    assert_eq!(VirtualPciService::gpu_pv_config(&nic), None);
}

#[test]
fn config_window_check_refuses_ram_and_outside_the_gaps() {
    let ram = [MmioRange::new(0, 512 << 20)];
    let gaps = MmioGaps {
        low: Some(MmioRange::new(0xF800_0000, 0x0800_0000)),
        high: Some(MmioRange::new(WINDOW, 1 << 30)),
    };
    assert_eq!(check_config_window(WINDOW, &ram, Some(&gaps)), Ok(()));
    assert_eq!(check_config_window(0xF800_0000, &ram, Some(&gaps)), Ok(()));
    assert_eq!(
        check_config_window(0x100_0000, &ram, None),
        Err(VpciHostError::WindowInRam(0x100_0000))
    );
    // The window's second page in RAM is as bad as the first.
    assert_eq!(
        check_config_window((512 << 20) - 0x1000, &ram, None),
        Err(VpciHostError::WindowInRam((512 << 20) - 0x1000))
    );
    assert_eq!(check_config_window(512 << 20, &ram, None), Ok(()));
    assert_eq!(
        check_config_window(512 << 20, &ram, Some(&gaps)),
        Err(VpciHostError::WindowOutsideGaps(512 << 20))
    );
    // Straddling the end of the high gap.
    assert_eq!(
        check_config_window(WINDOW + (1 << 30) - 0x1000, &ram, Some(&gaps)),
        Err(VpciHostError::WindowOutsideGaps(
            WINDOW + (1 << 30) - 0x1000
        ))
    );
    assert_eq!(
        check_config_window(0, &[], None),
        Err(VpciHostError::BadWindow(0))
    );
}

#[test]
fn d0_entry_with_a_window_in_guest_ram_is_refused() {
    let mut host = host();
    host.set_address_map(vec![MmioRange::new(0, 512 << 20)], None);
    in_band(&mut host, 1, true, "13 00 49 42 04 00 01 00").unwrap();
    in_band(&mut host, 0, false, "01 00 49 42").unwrap();
    outputs(&mut host);
    // BUS_D0ENTRY with the window at 16 MiB, inside RAM.
    assert_eq!(
        in_band(
            &mut host,
            2,
            true,
            "07 00 49 42 00 00 00 00 00 00 00 01 00 00 00 00"
        ),
        Err(VpciHostError::WindowInRam(0x100_0000))
    );
    assert_eq!(outputs(&mut host), vec![completion(2, hex("0D 00 00 C0"))]);
    assert_eq!(host.window(), None);
    assert_eq!(host.mmio_read(0x100_1000, 4), None);
}

#[test]
fn a_network_function_shows_no_gpu_pv_words() {
    let mut function = VpciFunction::network_vf(3);
    assert!(!function.is_gpu_pv());
    assert_eq!(function.read_dword(0), 0x1016_15B3);
    assert_eq!(function.read_dword(8) >> 16, 0x0200);
    function.write(0xC0, 4, 0xFFFF_FFFF);
    assert_eq!(function.read_dword(0xC0), 0);
    assert_eq!(function.read_dword(0xD0), 0);
}
