//! The Hyper-V-shaped platform under QEMU: the VMBus MMIO gaps the emulated firmware offers
//! (`--mmio-gaps`, as Hyper-V's `Set-VM -LowMemoryMappedIoSpace/-HighMemoryMappedIoSpace`)
//! decide where the guest puts the dxg IO space and the vPCI config windows, and an IO space
//! that does not fit fails with a clear `hvdiag:` line instead of a panic or a hang.

use dxgos::platform_layout::{default_gaps, parse_gaps};
use dxgos::{GuestExit, Mode, RunConfig, RunOutcome, run};

/// Boots the demo (`mode=run`) quietly as `name`, with `configure` applied to the run.
fn boot(name: &str, configure: impl FnOnce(&mut RunConfig)) -> RunOutcome {
    let mut config = RunConfig::new(Mode::Run);
    config.name = name.into();
    config.echo = false;
    configure(&mut config);
    run(&config).expect("QEMU and OVMF are installed")
}

/// The run failed and its boot report ended at `stage`.
fn assert_report_fails_at(outcome: &RunOutcome, stage: &str) {
    let console = &outcome.console;
    assert_ne!(outcome.exit, GuestExit::Success, "{console}");
    assert!(
        console.contains(&format!("hvdiag: result fail stage={stage}")),
        "{console}"
    );
}

/// The value of `key=0x…` in the first console line that contains `prefix`.
fn hex_field(console: &str, prefix: &str, key: &str) -> Option<u64> {
    let line = console.lines().find(|line| line.contains(prefix))?;
    let value = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix(key))?;
    u64::from_str_radix(value.trim_start_matches("0x"), 16).ok()
}

#[test]
fn io_space_and_config_windows_follow_the_mmio_gaps() {
    let outcome = boot("gaps-moved", |config| {
        config.mmio_gaps = parse_gaps("high=0x1000000000+0x8000000", default_gaps()).unwrap();
    });
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::Success, "{console}");
    assert!(
        console.contains("hvdiag: mmio low=0xc0000000+0x1000000 high=0x1000000000+0x8000000"),
        "{console}"
    );
    // The GOP framebuffer (OVMF puts the VGA BAR at the low gap's base) is kept out of the pool.
    let mmio_line = console
        .lines()
        .find(|line| line.contains("hvdiag: mmio "))
        .expect("mmio line");
    assert!(
        mmio_line.contains("framebuffer=0xc0000000+") && mmio_line.ends_with("reserved"),
        "{mmio_line}"
    );
    let gap = 0x10_0000_0000..0x10_0800_0000u64;
    let io_space = hex_field(console, "hvdiag: io space", "base=").expect("io space line");
    assert!(
        gap.contains(&io_space),
        "IO space {io_space:#x} outside the high gap"
    );
    assert_eq!(io_space % 0x1_0000, 0, "64 KiB aligned");
    let window = hex_field(console, "hvdiag: config window", "base=").expect("window line");
    assert!(
        gap.contains(&window),
        "config window {window:#x} outside the high gap"
    );
}

#[test]
fn an_io_space_that_does_not_fit_fails_clearly() {
    // 2 MiB of high gap for a 16 MiB IO space, and no low gap.
    let outcome = boot("gaps-too-small", |config| {
        config.mmio_gaps =
            parse_gaps("low=none,high=0x800000000+0x200000", default_gaps()).unwrap();
    });
    let console = &outcome.console;
    assert!(
        console.contains("hvdiag: io space does not fit: 16 MiB"),
        "{console}"
    );
    assert_report_fails_at(&outcome, "dxg-io-space");
    assert!(!console.contains("panic"), "{console}");
}

/// Defect 4 end to end: a host without message connection id 4 and with a busy message path
/// (transient HvPostMessage failures) still gets a connected guest, at a 4.x version on
/// connection id 1, that passes the GPU-PV check.
#[test]
fn a_host_refusing_connection_id_4_and_posts_is_retried_and_connected() {
    let outcome = boot("vmbus-faults", |config| {
        config.host.vmbus_faults =
            dxgos::VmbusFaults::parse("no-connection-id-4,transient-posts=4")
                .expect("valid faults");
    });
    let console = &outcome.console;
    assert!(
        console.contains("hvdiag: vmbus version=4.1 connection=1"),
        "{console}"
    );
    assert!(console.contains("hvdiag: result ok"), "{console}");
    assert_eq!(outcome.exit, GuestExit::Success, "{console}");
}

/// A host that refuses every post: the guest gives up within its time bound and says so at
/// the `vmbus` stage, no hang and no panic.
#[test]
fn a_host_refusing_every_post_fails_the_report_at_vmbus() {
    let outcome = boot("vmbus-refused", |config| {
        config.host.vmbus_faults = dxgos::VmbusFaults::parse("permanent-post").expect("valid");
    });
    let console = &outcome.console;
    assert_report_fails_at(&outcome, "vmbus");
    assert!(!console.contains("panic"), "{console}");
}

/// A host that never answers INITIATE_CONTACT: the guest's connection wait has a bound
/// (`vmbus_task::CONNECT_MILLISECONDS`), so the boot report still ends, at the `vmbus` stage.
#[test]
fn a_silent_host_still_gets_a_report_result() {
    let outcome = boot("vmbus-silent", |config| {
        config.host.vmbus_faults = dxgos::VmbusFaults::parse("silent").expect("valid");
    });
    let console = &outcome.console;
    assert_report_fails_at(&outcome, "vmbus");
    assert!(
        console.contains("did not complete the VMBus connection"),
        "{console}"
    );
}

#[test]
fn an_ivshmem_bar_inside_an_mmio_gap_stops_the_boot() {
    // OVMF places the ivshmem device's 32-bit BARs (registers, MSI-X table) just above the VGA
    // framebuffer that is the default low gap (0xc0000000+16 MiB); a 32 MiB low gap covers
    // them. Every other QEMU test boots with the default gaps, which they must stay clear of.
    let outcome = boot("ivshmem-bar-in-gap", |config| {
        config.link = emulator::platform::Transport::Ivshmem;
        config.mmio_gaps = parse_gaps("low=0xc0000000+0x2000000", default_gaps()).unwrap();
    });
    assert_report_fails_at(&outcome, "hypervisor");
    assert!(
        outcome.console.contains("overlaps a VMBus MMIO gap"),
        "{}",
        outcome.console
    );
}
