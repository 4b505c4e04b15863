//! The integration services end to end: the emulated host (standing for Hyper-V) asks the guest
//! to shut down or restart through the shutdown IC, sets its clock through time sync, and
//! rescinds and re-offers an IC channel. Each run is bounded by the runner's timeout: a guest
//! that does not power off (or reset) in time ends as `GuestExit::Timeout`, a failure.

use std::time::Duration;

use dxgos::{GuestExit, Mode, RunConfig, RunOutcome, run};
use emulator::integration::{HostShutdown, IcService};

/// 2031-01-01T00:00:00Z in 100 ns units since 1601-01-01:
/// (1_924_992_000 s × 10⁷) + 116_444_736_000_000_000.
const HOST_TIME_2031: u64 = 135_694_656_000_000_000;

fn boot(name: &str, configure: impl FnOnce(&mut RunConfig)) -> RunOutcome {
    let mut config = RunConfig::new(Mode::Run);
    config.name = name.into();
    configure(&mut config);
    run(&config).unwrap_or_else(|error| panic!("could not start QEMU: {error}"))
}

fn assert_negotiated(console: &str) {
    for line in [
        "ic: heartbeat negotiated framework 3.0 message 3.0",
        "ic: shutdown negotiated framework 3.0 message 3.2",
        "ic: timesync negotiated framework 3.0 message 4.0",
        "ic: kvp negotiated framework 3.0 message 4.0",
    ] {
        assert!(console.contains(line), "no {line:?} in:\n{console}");
    }
}

#[test]
fn host_shutdown_powers_the_guest_off_and_the_clock_follows_the_host() {
    let outcome = boot("ic-shutdown", |config| {
        config.host.integration.shutdown = Some((Duration::from_secs(2), HostShutdown::PowerOff));
        config.host.integration.host_time_at_start = Some(HOST_TIME_2031);
    });
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::PoweredOff, "console:\n{console}");
    assert_negotiated(console);
    assert!(
        console.contains("timesync: wall clock set to 2031-01-01T00:"),
        "the wall clock did not follow the host's sample:\n{console}"
    );
    let asked = console
        .find("shutdown: the host asked to power off")
        .expect("the request was not seen");
    let complete = console
        .find("shutdown: complete")
        .expect("no completion line");
    assert!(asked < complete);
}

#[test]
fn host_restart_resets_the_guest() {
    let outcome = boot("ic-restart", |config| {
        config.host.integration.shutdown = Some((Duration::from_secs(2), HostShutdown::Restart));
    });
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::Restarted, "console:\n{console}");
    assert!(console.contains("shutdown: the host asked to restart"));
    assert!(console.contains("restart: complete"));
}

#[test]
fn a_rescinded_and_reoffered_heartbeat_channel_comes_back() {
    let outcome = boot("ic-rescind", |config| {
        config.host.integration.rescind = Some((IcService::Heartbeat, Duration::from_secs(1)));
        // Shut down well after the re-offer, so the run ends cleanly.
        config.host.integration.shutdown = Some((Duration::from_secs(30), HostShutdown::PowerOff));
    });
    let console = &outcome.console;
    assert_eq!(outcome.exit, GuestExit::PoweredOff, "console:\n{console}");
    let line = "ic: heartbeat negotiated framework 3.0 message 3.0";
    assert_eq!(
        console.matches(line).count(),
        2,
        "the heartbeat channel did not negotiate again after the re-offer:\n{console}"
    );
}
