//! The kernel command line: `log=<error|warn|info|debug|trace|off>`, `mode=<run|test|bench>`,
//! `tests=<all|none|name,name,...>`. Unknown values are reported and replaced by the default;
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
        Options {
            mode,
            log_level,
            tests,
            problems,
        }
    }
}
