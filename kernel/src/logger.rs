//! The `log` backend: every record goes to COM1 as `[seconds.micros] LEVEL target: message`.
//! The level comes from `log=<level>` on the command line; the default is `info`, and the
//! kernel logs little at info, so a working boot is quiet. Warnings and errors also go into
//! the boot report while it is open ([`crate::diagnostics::log_record`]).

use log::{LevelFilter, Log, Metadata, Record};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let microseconds = crate::clock::nanoseconds_since_boot() / 1000;
        crate::serial::write_fmt(format_args!(
            "[{:>4}.{:06}] {:<5} {}: {}\n",
            microseconds / 1_000_000,
            microseconds % 1_000_000,
            record.level(),
            record.target(),
            record.args()
        ));
        crate::diagnostics::log_record(record.level(), record.target(), record.args());
    }

    fn flush(&self) {}
}

/// Installs the logger with `level`.
pub fn init(level: LevelFilter) {
    // Fails only if a logger is already set, in which case that one stays.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
