//! Boots the image in QEMU against an emulated host with two vPCI buses, a NIC VF's first and
//! the GPU's second (`HostOptions::vpci_network_bus_first`), and runs the demo: the kernel's
//! vPCI task must bring both buses up (one config window each, reported in the boot report
//! with `hvdiag: config window`) and hand the GPU function on the second bus to dxg, whose
//! adapter then passes the report's GPU-PV check and renders the demo.

use dxgos::{GuestExit, Mode, RunConfig, run};

#[test]
fn the_gpu_on_the_second_vpci_bus_renders_in_qemu() {
    let mut config = RunConfig::new(Mode::Run);
    config.name = "vpci-buses".into();
    config.echo = false;
    config.host.vpci_network_bus_first = true;
    let outcome = run(&config).unwrap_or_else(|error| panic!("could not start QEMU: {error}"));
    let windows: Vec<&str> = outcome
        .console
        .lines()
        .filter(|line| line.contains("hvdiag: config window base="))
        .collect();
    assert_eq!(windows.len(), 2, "console:\n{}", outcome.console);
    assert!(
        windows.iter().all(|line| line.contains("d0=0x00000000")),
        "{windows:?}"
    );
    let bases: Vec<&str> = windows
        .iter()
        .filter_map(|line| line.split("base=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(bases.len(), 2);
    assert_ne!(bases[0], bases[1], "each bus has its own window");
    assert!(
        outcome.console.contains("hvdiag: result ok"),
        "console:\n{}",
        outcome.console
    );
    assert_eq!(outcome.exit, GuestExit::Success, "guest exit status");
}
