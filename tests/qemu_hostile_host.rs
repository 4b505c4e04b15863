//! The hostile-host suite end to end in QEMU (issue 12): one never-answered message per layer
//! (ALLOFFERS_DELIVERED, OPENCHANNEL_RESULT, a dxg reply), one malformed message and one
//! duplicate, each a row of `emulator::hostile::HOSTILE_ROWS` the emulated host applies from
//! boot on (`--hostile-row`). The guest boots, logs what went wrong, and its boot report ends
//! with a result at the right stage: a never-answered wait ends at its time bound (issue 14;
//! `host-wait-ms=2000` shortens the open and dxg-reply bounds so a run takes seconds), and a
//! duplicate is refused while the rest of the system works (`result ok`). A vPCI GPU-PV
//! function whose vGPU channel is never offered (`--vgpu-offer-missing`) ends at the adapter
//! start bound (issue 14). A host that corrupts its index of a dxg ring
//! (`--host-fault dxg-vgpu=0:corrupt-ring@1`) makes the guest's requests fail at once with
//! STATUS_DEVICE_NOT_CONNECTED.

use dxgos::{AnswerFault, GuestExit, Mode, RunConfig, RunOutcome, run};

/// Boots the demo quietly with hostile row `row`, the open and reply bounds capped at 2 s.
/// Only for rows whose wait never ends: an answer that merely comes late on a loaded machine
/// must not meet a shortened bound.
fn boot_with_row(name: &str, row: &str) -> RunOutcome {
    boot(name, row, Some("host-wait-ms=2000"))
}

/// Like [`boot_with_row`], without the integration-service channels: the first channel the
/// guest opens is then the vPCI bus (relid 3), the one a row on OPENCHANNEL_RESULT is meant to
/// hit (with them, the heartbeat channel is opened first and takes the row).
fn boot_with_row_without_integration_services(name: &str, row: &str) -> RunOutcome {
    boot_configured(name, row, Some("host-wait-ms=2000"), false)
}

fn boot(name: &str, row: &str, extra: Option<&str>) -> RunOutcome {
    boot_configured(name, row, extra, true)
}

fn boot_configured(
    name: &str,
    row: &str,
    extra: Option<&str>,
    integration_services: bool,
) -> RunOutcome {
    let mut config = RunConfig::new(Mode::Run);
    config.name = name.into();
    config.echo = false;
    config.host.hostile_row = Some(row.into());
    config.host.offer_integration_services = integration_services;
    config.extra_command_line.extend(extra.map(String::from));
    run(&config).expect("QEMU and OVMF are installed")
}

/// The run failed, its report ended at `stage`, and nothing panicked.
fn assert_fails_at(outcome: &RunOutcome, stage: &str) {
    let console = &outcome.console;
    assert_ne!(outcome.exit, GuestExit::Success, "{console}");
    assert!(
        console.contains(&format!("hvdiag: result fail stage={stage}")),
        "{console}"
    );
    assert!(!console.contains("panic"), "{console}");
}

#[test]
fn all_offers_delivered_never_sent_ends_at_the_connection_bound() {
    let outcome = boot_with_row("hostile-all-offers", "all offers delivered never sent");
    assert_fails_at(&outcome, "vmbus");
    assert!(
        outcome
            .console
            .contains("did not complete the VMBus connection within 60000 ms"),
        "{}",
        outcome.console
    );
}

#[test]
fn open_result_never_sent_ends_at_the_open_bound() {
    let outcome =
        boot_with_row_without_integration_services("hostile-open-result", "open result never sent");
    assert_fails_at(&outcome, "vpci-d0");
    assert!(
        outcome
            .console
            .contains("opening relid 3 failed: TimedOut { milliseconds: 2000 }"),
        "{}",
        outcome.console
    );
}

#[test]
fn a_dxg_reply_never_sent_fails_its_request_with_io_timeout() {
    let outcome = boot_with_row("hostile-dxg-reply", "dxg reply never sent");
    assert_fails_at(&outcome, "dxg-io-space");
    assert!(
        outcome
            .console
            .contains("the request fails with STATUS_IO_TIMEOUT"),
        "{}",
        outcome.console
    );
}

#[test]
fn a_truncated_open_result_is_rejected_and_the_open_times_out() {
    let outcome = boot_with_row_without_integration_services(
        "hostile-open-truncated",
        "open result truncated",
    );
    assert_fails_at(&outcome, "vpci-d0");
    let console = &outcome.console;
    assert!(
        console.contains("host message rejected: Parse(TooShort"),
        "{console}"
    );
    assert!(console.contains("TimedOut"), "{console}");
}

#[test]
fn a_duplicated_open_result_is_refused_and_the_rest_works() {
    let outcome = boot("hostile-open-duplicated", "open result duplicated", None);
    let console = &outcome.console;
    assert!(
        console.contains("host message rejected: UnexpectedMessage"),
        "{console}"
    );
    assert!(console.contains("hvdiag: result ok"), "{console}");
    assert_eq!(outcome.exit, GuestExit::Success, "{console}");
}

#[test]
fn a_gpu_function_whose_vgpu_channel_never_comes_is_removed_at_its_bound() {
    let mut config = RunConfig::new(Mode::Run);
    config.name = "hostile-vgpu-offer-missing".into();
    config.echo = false;
    config.host.vgpu_offer_missing = true;
    config.extra_command_line.push("host-wait-ms=2000".into());
    let outcome = run(&config).expect("QEMU and OVMF are installed");
    let console = &outcome.console;
    assert_ne!(outcome.exit, GuestExit::Success, "{console}");
    // The function was probed (its adapter waited for the channel), then given up.
    assert!(
        console.contains(
            "(PCI function 0x10000) did not start within 2000 ms (no vGPU channel?); removed"
        ),
        "{console}"
    );
    assert!(console.contains("state=Removed"), "{console}");
    assert!(console.contains("hvdiag: result fail stage="), "{console}");
    assert!(!console.contains("panic"), "{console}");
}

/// After answering the first CreateDevice, the host keeps a misaligned read index in the vGPU
/// channel's guest→host ring. The dxg task cannot send on that ring, so a request that needs
/// it fails at once with STATUS_DEVICE_NOT_CONNECTED (0xC000009D), which the app reports,
/// instead of waiting for the reply bound; nothing panics. (The packet whose commit found the
/// index corrupt had been published: the host may still answer it, which the guest then logs
/// as an unknown transaction.)
#[test]
fn a_corrupt_guest_to_host_ring_fails_requests_with_device_not_connected() {
    let mut config = RunConfig::new(Mode::Run);
    config.name = "hostile-corrupt-ring".into();
    config.echo = false;
    config
        .host
        .answer_faults
        .push(AnswerFault::parse("dxg-vgpu=0:corrupt-ring@1").expect("a valid host fault"));
    let outcome = run(&config).expect("QEMU and OVMF are installed");
    let console = &outcome.console;
    assert_ne!(outcome.exit, GuestExit::Success, "{console}");
    assert!(
        console.contains("dxg: dropping a packet on relid")
            && console.contains("CorruptIndex { kind: Read, value: 12 }"),
        "{console}"
    );
    assert!(
        console.contains("failed with NtStatus(0xc000009d)"),
        "{console}"
    );
    assert!(console.contains("hvdiag: result fail stage="), "{console}");
    assert!(!console.contains("STATUS_IO_TIMEOUT"), "{console}");
    assert!(!console.contains("panic"), "{console}");
}
