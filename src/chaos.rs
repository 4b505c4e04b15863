//! The runner's side of the chaos run (`cargo run -- chaos`, `kernel/src/chaos.rs`): the
//! kernel checks its own frames and heap bytes and prints the summary line; the runner then
//! checks what the emulated host still holds once QEMU has ended. The kernel shut the GPU
//! stack down (VMBus UNLOAD) before it ended, and the host started with nothing, so the host
//! must hold no process, object or IO-space page: anything else leaked across the faults.

use crate::{GuestExit, HostCounts, RunOutcome};

/// The start of the kernel's summary line (raw, at the start of a console line).
pub const SUMMARY_PREFIX: &str = "chaos: ";
/// The end of the kernel's summary line.
pub const SUMMARY_SUFFIX: &str = "frames leaked, kernel alive";

/// The kernel's chaos summary: `chaos: F faults injected, R drivers restarted, A app runs
/// completed, L frames leaked, kernel alive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChaosSummary {
    /// Faults injected (F).
    pub faults: u64,
    /// Driver restarts (R).
    pub restarts: u64,
    /// App runs that completed (A).
    pub app_runs: u64,
    /// Frames leaked (L).
    pub frames_leaked: u64,
}

impl ChaosSummary {
    /// Finds the summary line in `console` and parses it.
    pub fn find(console: &str) -> Option<ChaosSummary> {
        console
            .lines()
            .find_map(|line| Self::parse(line.trim_end()))
    }

    fn parse(line: &str) -> Option<ChaosSummary> {
        let rest = line
            .strip_prefix(SUMMARY_PREFIX)?
            .strip_suffix(SUMMARY_SUFFIX)?;
        let numbers: Vec<u64> = rest
            .split(',')
            .map(|part| part.split_whitespace().next()?.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        match numbers[..] {
            [faults, restarts, app_runs, frames_leaked] => Some(ChaosSummary {
                faults,
                restarts,
                app_runs,
                frames_leaked,
            }),
            _ => None,
        }
    }
}

/// The chaos run's verdict: the guest's success, its summary line, and a host that holds
/// nothing at the end.
pub fn verdict(outcome: &RunOutcome) -> Result<ChaosSummary, String> {
    if outcome.exit != GuestExit::Success {
        return Err(format!(
            "the guest did not report success: {:?}",
            outcome.exit
        ));
    }
    let summary = ChaosSummary::find(&outcome.console).ok_or("no chaos summary line")?;
    if summary.frames_leaked != 0 {
        return Err(format!("{} frames leaked", summary.frames_leaked));
    }
    let counts = outcome.host_counts.ok_or("the emulated host did not run")?;
    if counts != HostCounts::default() {
        return Err(format!(
            "the emulated host still holds {counts:?} at the end"
        ));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_parses() {
        let console = "x\nchaos: 9 faults injected, 21 drivers restarted, 10 app runs completed, 0 frames leaked, kernel alive\r\n";
        assert_eq!(
            ChaosSummary::find(console),
            Some(ChaosSummary {
                faults: 9,
                restarts: 21,
                app_runs: 10,
                frames_leaked: 0
            })
        );
        assert_eq!(ChaosSummary::find("[info] chaos: 9 faults injected"), None);
        assert_eq!(
            ChaosSummary::find(
                "chaos: x faults injected, 1 drivers restarted, 1 app runs completed, 0 frames leaked, kernel alive"
            ),
            None
        );
    }
}
