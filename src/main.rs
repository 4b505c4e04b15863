//! `cargo run [-- OPTIONS]`: build the dxgos image, boot it in QEMU and exit with the guest's
//! verdict (0 when the guest reports success).

use dxgos::{GuestExit, Mode, RunConfig};
use emulator::integration::HostShutdown;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: cargo run [--release] -- [MODE] [OPTIONS]

MODE     run (default: the normal boot path), test (in-kernel tests), bench (benchmarks),
         chaos (faults injected into the vmbus, vpci and dxg drivers in turn while an app runs
         in a loop; exits 0 only if every app run after a restart completed and nothing leaked)
OPTIONS  --faults N        chaos: how many faults (default 100)  --tests A,B       run only these in-kernel tests
         --log LEVEL       kernel log level: error, warn, info (default), debug, trace
         --arg KEY=VALUE   extra kernel command-line word (repeatable)
         --timeout SECS    kill QEMU after SECS seconds (default 180; bench 900, chaos 1800;
                           given anywhere, it wins over the mode's default)
         --memory MIB      guest RAM in MiB (default 512; 16 to 2047)
         --trace FILE      write the emulated host's protocol trace (every frame, MSR access,
                           hypercall, message and interrupt, timestamped) to FILE
         --no-emulator     boot without the emulated Hyper-V host
         --link ivshmem|com2
                           how the guest reaches the emulated host: shared-memory mailboxes
                           with a doorbell and an interrupt (ivshmem-doorbell, the default) or
                           framed bytes on COM2 (the slower original, kept as the baseline)
         --mmio-gaps low=0xBASE+0xSIZE,high=0xBASE+0xSIZE
                           the VMBus MMIO gaps the emulated firmware offers (either may be
                           `none`; default low=0xc0000000+0x1000000,high=0x800000000+0x10000000),
                           as Hyper-V's Set-VM -LowMemoryMappedIoSpace/-HighMemoryMappedIoSpace
         --vmbus-faults no-connection-id-4,transient-posts=N,permanent-post,silent
                           the emulated host refuses connection id 4 / fails the first N posts
                           with INSUFFICIENT_BUFFERS or _MEMORY / fails every post / never
                           answers INITIATE_CONTACT
         --hostile-row NAME
                           the emulated host makes one message wrong from boot on, as the
                           row NAME of the hostile-host table (emulator/src/hostile/rows.rs)
                           says, e.g. \"all offers delivered never sent\"
         --host-fault KIND:never | KIND:late=MS | KIND:corrupt-ring  [@N | @N+]
                           the emulated host never sends / sends MS milliseconds late the
                           answer KIND (every one, only the N-th, or the N-th and later): version-response, offer,
                           all-offers-delivered, open-channel-result, gpadl-created,
                           gpadl-torndown, unload-response, modify-channel-response, dxg
                           (the completions of dxg requests), or dxg-vgpu=N / dxg-global=N
                           (the completions of dxg command N on that channel); with a dxg
                           KIND, corrupt-ring sends it, then corrupts that channel's
                           guest-to-host ring (its read index); repeatable
         --vpci-network-bus-first
                           the emulated host offers a vPCI bus with a NIC VF before the GPU's
         --vgpu-offer-missing
                           the GPU-PV function on the vPCI bus names a vGPU whose dxg channel
                           the emulated host never offers: the adapter waits until its bound
         --no-dxg-offer    the emulated host offers no dxg channels (no GPU partition); the
                           boot report then ends `result fail stage=offers`
         --host-shutdown-after SECS / --host-restart-after SECS / --host-hibernate-after SECS
                           the emulated host asks the guest (shutdown IC) to power off /
                           restart / hibernate SECS seconds after the shutdown channel is ready;
                           the guest powers off (QEMU ends after `shutdown: complete`) or resets
         --host-time 100NS the host's time for time sync (100 ns units since 1601-01-01)
         --ic-rescind SERVICE@SECS
                           rescind heartbeat/shutdown/timesync/kvp SECS seconds after it was
                           negotiated (with a request outstanding) and offer it again
         --ic-faults unknown-versions,malformed=N,heartbeat-flood=N
                           integration-service faults of the emulated host
         --no-integration-services
                           the emulated host offers no integration services
         --vgpu-description TEXT
                           the driver description the emulated vGPU reports (as a real host's
                           GPU would): the vGPU-specific demos are then skipped
         --icount          count guest instructions: QEMU runs with -icount shift=0,align=off,
                           sleep=off (not added if the DXGOS_QEMU wrapper passes -icount) and
                           the benches report instructions instead of TSC cycles
         --verbose         also show the firmware's console output
         --quiet           do not echo the guest console
environment: DXGOS_QEMU, DXGOS_OVMF_CODE + DXGOS_OVMF_VARS override the QEMU and OVMF paths;
             DXGOS_LINK=com2 makes COM2 the default link (for whole test runs)";

fn parse(arguments: &[String]) -> Result<RunConfig, String> {
    let mut config = RunConfig::new(Mode::Run);
    let mut explicit_timeout = None;
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        let mut value = |name: &str| {
            iterator
                .next()
                .cloned()
                .ok_or(format!("{name} needs a value"))
        };
        match argument.as_str() {
            "run" => config.mode = Mode::Run,
            "test" => config.mode = Mode::Test,
            "bench" => {
                config.mode = Mode::Bench;
                // Thousands of host round trips; a few minutes under TCG on a loaded machine.
                config.timeout = Duration::from_secs(900);
            }
            "chaos" => {
                config.mode = Mode::Chaos;
                if !config
                    .extra_command_line
                    .iter()
                    .any(|word| word.starts_with("chaos-faults="))
                {
                    config.extra_command_line.push("chaos-faults=100".into());
                }
                // 100 faults take several minutes under TCG; well under this bound.
                config.timeout = Duration::from_secs(1800);
            }
            "--faults" => {
                let count = value("--faults")?;
                let count: u64 = count
                    .parse()
                    .map_err(|_| format!("--faults: not a number: {count}"))?;
                config
                    .extra_command_line
                    .retain(|word| !word.starts_with("chaos-faults="));
                config
                    .extra_command_line
                    .push(format!("chaos-faults={count}"));
            }
            "--tests" => config.tests = Some(value("--tests")?),
            "--log" => config.log_level = value("--log")?,
            "--arg" => config.extra_command_line.push(value("--arg")?),
            "--timeout" => {
                let seconds = value("--timeout")?;
                let seconds: u64 = seconds
                    .parse()
                    .map_err(|_| format!("--timeout: not a number: {seconds}"))?;
                explicit_timeout = Some(Duration::from_secs(seconds));
            }
            "--memory" => {
                let text = value("--memory")?;
                config.memory_mib = text
                    .parse()
                    .ok()
                    .filter(|mib| (16..2048).contains(mib))
                    .ok_or(format!("--memory: not a size from 16 to 2047 MiB: {text}"))?;
            }
            "--trace" => config.trace = Some(value("--trace")?.into()),
            "--no-emulator" => config.emulator = false,
            "--link" => {
                config.link = match value("--link")?.as_str() {
                    "ivshmem" => emulator::platform::Transport::Ivshmem,
                    "com2" => emulator::platform::Transport::Com2,
                    other => return Err(format!("--link: ivshmem or com2, not {other}")),
                }
            }
            "--icount" => config.icount = true,
            "--mmio-gaps" => {
                config.mmio_gaps =
                    dxgos::platform_layout::parse_gaps(&value("--mmio-gaps")?, config.mmio_gaps)?
            }
            "--no-dxg-offer" => config.host.offer_dxg = false,
            "--vgpu-offer-missing" => config.host.vgpu_offer_missing = true,
            "--vgpu-description" => {
                config.host.vgpu_description = Some(value("--vgpu-description")?)
            }
            "--vpci-network-bus-first" => config.host.vpci_network_bus_first = true,
            "--vmbus-faults" => {
                config.host.vmbus_faults = dxgos::VmbusFaults::parse(&value("--vmbus-faults")?)?
            }
            "--hostile-row" => config.host.hostile_row = Some(value("--hostile-row")?),
            "--host-fault" => config
                .host
                .answer_faults
                .push(dxgos::AnswerFault::parse(&value("--host-fault")?)?),
            "--host-shutdown-after" | "--host-restart-after" | "--host-hibernate-after" => {
                let seconds = value(argument)?;
                let seconds: u64 = seconds
                    .parse()
                    .map_err(|_| format!("{argument}: not a number: {seconds}"))?;
                let kind = match argument.as_str() {
                    "--host-shutdown-after" => HostShutdown::PowerOff,
                    "--host-restart-after" => HostShutdown::Restart,
                    _ => HostShutdown::Hibernate,
                };
                config.host.integration.shutdown = Some((Duration::from_secs(seconds), kind));
            }
            "--host-time" => {
                let time = value("--host-time")?;
                config.host.integration.host_time_at_start = Some(
                    time.parse()
                        .map_err(|_| format!("--host-time: not a number: {time}"))?,
                );
            }
            "--ic-rescind" => {
                config.host.integration.rescind =
                    Some(dxgos::parse_ic_rescind(&value("--ic-rescind")?)?)
            }
            "--ic-faults" => {
                config.host.integration.misbehaviour =
                    dxgos::parse_ic_faults(&value("--ic-faults")?)?
            }
            "--no-integration-services" => config.host.offer_integration_services = false,
            "--verbose" => config.verbose = true,
            "--quiet" => config.echo = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    config.name = format!("{:?}", config.mode).to_lowercase();
    // A mode sets its own default bound; `--timeout` overrides it wherever it was given.
    if let Some(timeout) = explicit_timeout {
        config.timeout = timeout;
    }
    Ok(config)
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&arguments) {
        Ok(config) => config,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("dxgos: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match dxgos::run(&config) {
        Ok(outcome) if config.mode == Mode::Chaos => chaos_exit(&outcome),
        Ok(outcome) => {
            let seconds = outcome.elapsed.as_secs_f64();
            match outcome.exit {
                GuestExit::Success => {
                    if let Some(ppm) = &outcome.screenshot {
                        let png = ppm.with_extension("png");
                        match dxgos::read_ppm(ppm).and_then(|image| image.write_png(&png)) {
                            Ok(()) => println!("dxgos: screen saved to {}", png.display()),
                            Err(error) => eprintln!("dxgos: screen not saved: {error}"),
                        }
                    }
                    if config.mode == Mode::Bench {
                        print_link_interrupts(&outcome);
                    }
                    println!("dxgos: guest reported success ({seconds:.1} s)");
                    ExitCode::SUCCESS
                }
                GuestExit::Failure => {
                    eprintln!("dxgos: guest reported failure ({seconds:.1} s)");
                    ExitCode::FAILURE
                }
                GuestExit::Timeout { hung_test } => {
                    match hung_test {
                        Some(test) => {
                            eprintln!("dxgos: timed out after {seconds:.0} s in test {test}")
                        }
                        None => eprintln!("dxgos: timed out after {seconds:.0} s"),
                    }
                    ExitCode::FAILURE
                }
                GuestExit::PoweredOff => {
                    println!("dxgos: guest shut down cleanly ({seconds:.1} s)");
                    ExitCode::SUCCESS
                }
                GuestExit::Restarted => {
                    println!("dxgos: guest restarted ({seconds:.1} s)");
                    ExitCode::SUCCESS
                }
                GuestExit::Other(code) => {
                    eprintln!(
                        "dxgos: QEMU ended without a verdict from the guest (status {code:?})"
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("dxgos: {error}");
            ExitCode::FAILURE
        }
    }
}

/// After a bench run over the ivshmem link: how the emulated host interrupted the guest
/// (docs/emulated-platform.md, "A reply carries its interrupt"), which the host-crossing
/// benches depend on.
fn print_link_interrupts(outcome: &dxgos::RunOutcome) {
    let Some(interrupts) = outcome.link_interrupts else {
        return;
    };
    if interrupts.raised + interrupts.spared > 0 {
        println!(
            "dxgos: emulated link: {} interrupts raised ({} of them owed and raised late), {} spared",
            interrupts.raised, interrupts.raised_late, interrupts.spared
        );
    }
}

/// The chaos run's exit status (`dxgos::chaos::verdict`).
fn chaos_exit(outcome: &dxgos::RunOutcome) -> ExitCode {
    let seconds = outcome.elapsed.as_secs_f64();
    if let Some(counts) = outcome.host_counts {
        println!(
            "dxgos: chaos: the emulated host holds {} processes, {} objects, {} IO pages at the end",
            counts.processes, counts.objects, counts.io_pages
        );
    }
    match dxgos::chaos::verdict(outcome) {
        Ok(summary) => {
            println!("dxgos: chaos passed: {summary:?} ({seconds:.1} s)");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("dxgos: chaos failed: {reason} ({seconds:.1} s)");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(words: &[&str]) -> RunConfig {
        let words: Vec<String> = words.iter().map(|word| word.to_string()).collect();
        parse(&words).expect("valid arguments")
    }

    #[test]
    fn timeout_wins_over_the_mode_default_in_either_order() {
        assert_eq!(parsed(&["bench"]).timeout, Duration::from_secs(900));
        assert_eq!(parsed(&["chaos"]).timeout, Duration::from_secs(1800));
        for words in [["--timeout", "42", "bench"], ["bench", "--timeout", "42"]] {
            assert_eq!(parsed(&words).timeout, Duration::from_secs(42), "{words:?}");
        }
        assert_eq!(
            parsed(&["--timeout", "7", "chaos"]).timeout,
            Duration::from_secs(7)
        );
    }

    #[test]
    fn timeout_must_be_a_number() {
        let words: Vec<String> = ["--timeout", "soon"]
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert!(parse(&words).unwrap_err().contains("not a number"));
    }
}
