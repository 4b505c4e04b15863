//! `dxgos-emulator`: runs the emulated Hyper-V host beside QEMU until QEMU closes the link's
//! socket (the ivshmem server's, or COM2's with `--transport com2`).
//!
//! ```text
//! dxgos-emulator --memory-file PATH --socket PATH [--transport ivshmem|com2]
//!                [--memory-size BYTES] [--trace PATH] [--log error|warn|info|debug|trace]
//! ```

use emulator::platform::{HostConfig, QemuLinkConfig, Transport, run_qemu_link};
use std::path::PathBuf;
use std::process::ExitCode;

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "dxgos-emulator {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

const USAGE: &str = "usage: dxgos-emulator --memory-file PATH --socket PATH \
                     [--transport ivshmem|com2] [--memory-size BYTES] [--trace PATH] [--log LEVEL]";

fn parse(arguments: &[String]) -> Result<(QemuLinkConfig, log::LevelFilter), String> {
    let mut memory_file = None;
    let mut socket = None;
    let mut trace = None;
    let mut memory_size = None;
    let mut transport = Transport::default();
    let mut level = log::LevelFilter::Warn;
    let mut iterator = arguments.iter();
    while let Some(flag) = iterator.next() {
        let mut value = || {
            iterator
                .next()
                .cloned()
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--memory-file" => memory_file = Some(PathBuf::from(value()?)),
            "--socket" => socket = Some(PathBuf::from(value()?)),
            "--trace" => trace = Some(PathBuf::from(value()?)),
            "--transport" => {
                transport = match value()?.as_str() {
                    "ivshmem" => Transport::Ivshmem,
                    "com2" => Transport::Com2,
                    other => return Err(format!("unknown transport {other}\n{USAGE}")),
                }
            }
            "--memory-size" => {
                let text = value()?;
                memory_size = Some(
                    text.parse::<u64>()
                        .map_err(|_| format!("bad size {text}"))?,
                );
            }
            "--log" => {
                let text = value()?;
                level = text.parse().map_err(|_| format!("bad log level {text}"))?;
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let memory_file = memory_file.ok_or(format!("--memory-file is required\n{USAGE}"))?;
    let socket = socket.ok_or(format!("--socket is required\n{USAGE}"))?;
    let mut config = QemuLinkConfig::new(memory_file, socket);
    config.trace = trace;
    config.memory_size = memory_size;
    config.transport = transport;
    Ok((config, level))
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (config, level) = match parse(&arguments) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
    match run_qemu_link(config, HostConfig::default(), None) {
        Ok(summary) => {
            eprintln!("dxgos-emulator: link closed: {summary:?}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("dxgos-emulator: {error}");
            ExitCode::FAILURE
        }
    }
}
