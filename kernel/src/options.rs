//! The kernel command line: `log=<error|warn|info|debug|trace|off>`,
//! `mode=<run|test|bench|chaos>`, `tests=<all|none|name,name,...>`, `chaos-faults=<N>`. Unknown values are reported and replaced by the default;
//! they never stop the boot.

use boot_info::command_line_value;
use log::LevelFilter;

/// What the kernel does after booting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The normal boot path.
    Run,
    /// Run the in-kernel tests.
    Test,
    /// Run the benchmarks.
    Bench,
    /// The chaos run: faults injected into the drivers while an app runs in a loop
    /// (`chaos.rs`).
    Chaos,
}

/// The parsed command line.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// What to do.
    pub mode: Mode,
    /// Maximum log level.
    pub log_level: LevelFilter,
    /// The `tests=` value (`all` when absent).
    pub tests: &'static str,
    /// The `chaos-faults=` value: how many faults the chaos run injects.
    pub chaos_faults: u64,
    /// Problems found while parsing, to report once logging runs.
    pub problems: [Option<&'static str>; 2],
}

impl Options {
    /// Parses `command_line`.
    pub fn parse(command_line: &'static str) -> Options {
        let mut problems = [None, None];
        let mode = match command_line_value(command_line, "mode") {
            None | Some("run") => Mode::Run,
            Some("test") => Mode::Test,
            Some("bench") => Mode::Bench,
            Some("chaos") => Mode::Chaos,
            Some(_) => {
                problems[0] = Some("unknown mode= value; using run");
                Mode::Run
            }
        };
        let log_level = match command_line_value(command_line, "log") {
            None | Some("info") => LevelFilter::Info,
            Some("off") => LevelFilter::Off,
            Some("error") => LevelFilter::Error,
            Some("warn") => LevelFilter::Warn,
            Some("debug") => LevelFilter::Debug,
            Some("trace") => LevelFilter::Trace,
            Some(_) => {
                problems[1] = Some("unknown log= value; using info");
                LevelFilter::Info
            }
        };
        let tests = command_line_value(command_line, "tests").unwrap_or("all");
        let chaos_faults = command_line_value(command_line, "chaos-faults")
            .and_then(|count| count.parse().ok())
            .unwrap_or(crate::chaos::DEFAULT_FAULTS);
        Options {
            mode,
            log_level,
            tests,
            chaos_faults,
            problems,
        }
    }
}
