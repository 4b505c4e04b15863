//! Several vPCI buses, in-process: the guest's vPCI driver (`drivers::vpci::VpciBuses`, what
//! the kernel's vPCI task runs) and dxg core over the emulated host with a NIC VF bus offered
//! before the GPU's (`ServerConfig::with_network_bus_first`), see `support/vpci_guest.rs`.

mod support;

use dxg::core::{Action, AdapterState};
use dxg::wire::PCI_DEVICE_VIRTUAL_RENDER;
use emulator::vmbus_server::{ServerConfig, instance_guid};
use emulator::vpci::STATUS_INVALID_PARAMETER;
use hyperv::mmio::{MmioGaps, MmioRange};
use support::guest_stack::{MEMORY_BYTES, Stack};
use vmbus::guid::class;

/// Hyper-V-shaped gaps: a low gap below 4 GiB and a high one at 64 GiB, both outside RAM.
fn gaps() -> MmioGaps {
    MmioGaps {
        low: Some(MmioRange::new(0xF800_0000, 0x0400_0000)),
        high: Some(MmioRange::new(0x10_0000_0000, 1 << 30)),
    }
}

fn two_buses() -> ServerConfig {
    ServerConfig::standard(1).with_network_bus_first()
}

/// The instance GUIDs of the host's vPCI offers, in offer order.
fn vpci_instances(config: &ServerConfig) -> Vec<vmbus::guid::Guid> {
    config
        .devices
        .iter()
        .filter(|device| device.class == class::VIRTUAL_PCI)
        .map(|device| device.instance)
        .collect()
}

#[test]
fn the_gpu_on_the_second_of_two_buses_is_found_and_its_adapter_comes_up() {
    let config = two_buses();
    let instances = vpci_instances(&config);
    assert_eq!(instances.len(), 2);
    assert_eq!(
        instances[1],
        instance_guid(3, 0),
        "the GPU's bus comes second"
    );
    let stack = Stack::over_virtual_pci(config, gaps());
    let vpci = stack.vpci.as_ref().expect("vPCI driver");

    // Both buses entered D0, each with its own window.
    assert_eq!(vpci.reports.len(), 2);
    assert!(vpci.reports.iter().all(|report| report.status == 0));
    let reported: Vec<_> = vpci.reports.iter().map(|report| report.instance).collect();
    assert!(instances.iter().all(|instance| reported.contains(instance)));

    // Only the GPU-PV function was handed on: the one on the second bus.
    assert_eq!(vpci.found.len(), 1);
    let gpu = vpci.found[0];
    assert_eq!(gpu.info.device_id, PCI_DEVICE_VIRTUAL_RENDER);
    let gpu_report = vpci
        .reports
        .iter()
        .find(|report| report.instance == instances[1])
        .unwrap();
    assert_eq!(gpu.window, gpu_report.window);

    // Its adapter came up.
    let active = stack.events.iter().any(|event| {
        matches!(
            event,
            Action::AdapterStateChanged {
                state: AdapterState::Active,
                ..
            }
        )
    });
    assert!(active, "events: {:?}", stack.events);
    assert!(stack.protocol_errors.is_empty());
}

#[test]
fn each_bus_gets_its_own_8_kib_window_inside_the_gaps() {
    let stack = Stack::over_virtual_pci(two_buses(), gaps());
    let vpci = stack.vpci.as_ref().expect("vPCI driver");
    let windows: Vec<u64> = vpci.windows.values().copied().collect();
    assert_eq!(windows.len(), 2);
    for &window in &windows {
        assert!(window.is_multiple_of(0x1000));
        let range = MmioRange::new(window, 0x2000);
        assert!(gaps().contain(&range), "{range} outside the gaps");
        // The high gap first, as Linux's hv_allocate_config_window.
        assert!(gaps().high.unwrap().contains(&range));
        assert!(!MmioRange::new(0, MEMORY_BYTES as u64).overlaps(&range));
    }
    assert!(!MmioRange::new(windows[0], 0x2000).overlaps(&MmioRange::new(windows[1], 0x2000)));
    // The windows are what the buses announced in BUS_D0ENTRY.
    let mut reported: Vec<u64> = vpci.reports.iter().map(|report| report.window).collect();
    reported.sort_unstable();
    let mut sorted = windows.clone();
    sorted.sort_unstable();
    assert_eq!(reported, sorted);
}

#[test]
fn the_emulator_refuses_a_config_window_in_guest_ram() {
    // A "gap" the firmware should never give: 1 MiB inside guest RAM.
    let in_ram = MmioGaps {
        low: Some(MmioRange::new(0x2C0_0000, 0x10_0000)),
        high: None,
    };
    let stack = Stack::over_virtual_pci(ServerConfig::standard(1), in_ram);
    let vpci = stack.vpci.as_ref().expect("vPCI driver");
    assert_eq!(vpci.reports.len(), 1);
    let report = vpci.reports[0];
    assert!(
        in_ram
            .low
            .unwrap()
            .contains(&MmioRange::new(report.window, 0x2000))
    );
    assert_eq!(report.status, STATUS_INVALID_PARAMETER);
    // The bus was given up: no function, its window back in the pool, no adapter.
    assert!(vpci.found.is_empty());
    assert!(vpci.buses.is_empty());
    assert!(vpci.windows.is_empty());
    assert_eq!(vpci.mmio.free_ranges(), &[in_ram.low.unwrap()]);
    assert!(!stack.events.iter().any(|event| matches!(
        event,
        Action::AdapterStateChanged {
            state: AdapterState::Active,
            ..
        }
    )));
}
