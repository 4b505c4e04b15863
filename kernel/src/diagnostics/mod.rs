//! The boot report: field diagnostics a real-Hyper-V user can send back (see
//! `docs/boot-report.md`).
//!
//! Every report line starts `hvdiag: ` and goes to COM1 and to a text console on the GOP
//! framebuffer ([`crate::display::TextConsole`]), so it can be captured from the COM1 named
//! pipe or photographed from the VM Connect window. The boot walks the [`Stage`]s in order;
//! the report's last line is `hvdiag: result <ok|fail> stage=<stage> reason=<text>`, naming
//! the stage the boot was in when it ended.
//!
//! # API (callable from any task, any time)
//! - [`start`]: opens the report (the `mode=run` boot path only; until then, and in the test
//!   and bench modes, every other call does nothing, so shared code can call freely).
//! - [`enter`]: the boot is now in `stage` (prints `hvdiag: stage <name>`). Stages only move
//!   forward: entering a stage at or before the current one does nothing, so a task reporting
//!   late cannot make the report name an earlier stage.
//! - [`line`] or the [`crate::hvdiag!`] macro: one report line (`hvdiag: ` is added; line breaks and
//!   control characters become spaces; long lines are cut at [`MAX_LINE_CHARACTERS`]).
//! - [`fail`]: ends the report with `result fail` at the current stage. The first result wins;
//!   later [`fail`] or [`finish_ok`] calls do nothing.
//! - [`finish_ok`]: ends the report with `result ok` (after `gpupv-check` passed). The screen
//!   then belongs to the applications: later lines go to COM1 only.
//! - [`idle_after_failure`]: what the boot path does after a failure: idle, repeating the
//!   report on COM1 every [`REPEAT_INTERVAL_MILLISECONDS`] (at most [`REPEAT_LIMIT`] times,
//!   woken by the kernel's timer), then halt. Under QEMU the runner ends the run as soon as it
//!   sees `result fail`.
//! - [`fail_early`]: a failure before the heap exists (COM1 only, nothing kept).
//!
//! Warnings and errors logged while the report is open are added to it as
//! `hvdiag: log <level> <target>: <message>` (see [`log_record`]), so a bus-task failure (a
//! refused hypercall with its status, say) reaches the report without the bus code knowing
//! about it.
//!
//! The report is kept (bounded: [`MAX_LINES`]) for the repeats. All state sits behind one
//! lock taken with interrupts off, like COM1's; nothing in here logs while holding it.

/// Adds one report line (`hvdiag: ` is added): `hvdiag!("vmbus version={version}")`.
#[macro_export]
macro_rules! hvdiag {
    ($($argument:tt)*) => {
        $crate::diagnostics::line(format_args!($($argument)*))
    };
}

mod probes;

/// Reads back the SynIC registers (on Hyper-V) and writes them; returns why the SynIC is not
/// usable. Does nothing (and finds nothing wrong) while the report is not open.
pub fn report_synic(
    backend_is_real: bool,
    features: Option<&hyperv::cpuid::HypervisorFeatures>,
) -> Result<(), String> {
    if !STARTED.load(Ordering::Acquire) {
        return Ok(());
    }
    probes::report_synic(backend_is_real, features)
}

/// Writes the `platform` line (ACPI OEM id, hypervisor and version) and the raw hypervisor
/// CPUID leaves, for the hypervisor interface `backend` the kernel found.
pub fn report_platform(backend: &crate::hypervisor::Backend) {
    if STARTED.load(Ordering::Acquire) {
        probes::report_platform(RSDP_ADDRESS.load(Ordering::Acquire), backend);
    }
}

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use boot_info::BootInfo;
use spin::Mutex;

use crate::display::{Colour, Screen, TextConsole};

/// The boot's stages, in the order the boot passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The firmware's hand-off: boot info, memory map, framebuffer (the stub's part too).
    Firmware,
    /// ACPI tables, APICs and the timer calibration.
    Acpi,
    /// Finding the hypervisor interface (CPUID, or the emulator on COM2).
    Hypervisor,
    /// The SynIC set up by the bus task and read back.
    Synic,
    /// VMBus version negotiation.
    Vmbus,
    /// The host's channel offers (the dxg channels must be among them).
    Offers,
    /// The virtual PCI bus: config window, bus relations, the GPU function in D0.
    VpciD0,
    /// The dxg IO space (MMIO from the VMBus gaps) announced to the host.
    DxgIoSpace,
    /// The dxg adapter started (OPENADAPTER …) until it is active.
    AdapterActive,
    /// A GPU-PV round trip through the dxg task (no vendor driver involved).
    GpupvCheck,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 10] = [
        Stage::Firmware,
        Stage::Acpi,
        Stage::Hypervisor,
        Stage::Synic,
        Stage::Vmbus,
        Stage::Offers,
        Stage::VpciD0,
        Stage::DxgIoSpace,
        Stage::AdapterActive,
        Stage::GpupvCheck,
    ];

    /// The stage's name in the report.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Firmware => "firmware",
            Stage::Acpi => "acpi",
            Stage::Hypervisor => "hypervisor",
            Stage::Synic => "synic",
            Stage::Vmbus => "vmbus",
            Stage::Offers => "offers",
            Stage::VpciD0 => "vpci-d0",
            Stage::DxgIoSpace => "dxg-io-space",
            Stage::AdapterActive => "adapter-active",
            Stage::GpupvCheck => "gpupv-check",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the report ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every stage passed.
    Ok,
    /// The boot failed in the stage the result line names.
    Failed,
}

/// The prefix of every report line.
pub const PREFIX: &str = "hvdiag: ";
/// Lines kept for the repeats (later ones are counted, printed, not kept).
pub const MAX_LINES: usize = 400;
/// Characters of one line after the prefix (the rest is cut).
pub const MAX_LINE_CHARACTERS: usize = 300;
/// Time between two repeats of the report after a failure.
pub const REPEAT_INTERVAL_MILLISECONDS: u64 = 10_000;
/// Repeats after a failure (an hour's worth), then the guest halts.
pub const REPEAT_LIMIT: u32 = 360;

struct Report {
    stage: Stage,
    lines: Vec<String>,
    lines_not_kept: usize,
    outcome: Option<Outcome>,
    console: Option<TextConsole>,
}

/// Set once [`start`] ran: lets the calls outside `mode=run` return without locking.
static STARTED: AtomicBool = AtomicBool::new(false);
/// Copies of the stage (its index in [`Stage::ALL`]) and of "a result was written", readable
/// without the lock (for the panic handler).
static STAGE_INDEX: AtomicU8 = AtomicU8::new(0);
static FINISHED: AtomicBool = AtomicBool::new(false);
/// The RSDP's physical address (for the `platform` line's OEM id).
static RSDP_ADDRESS: AtomicU64 = AtomicU64::new(0);
static REPORT: Mutex<Option<Report>> = Mutex::new(None);

fn with_report<R>(body: impl FnOnce(&mut Report) -> R) -> Option<R> {
    if !STARTED.load(Ordering::Acquire) {
        return None;
    }
    x86_64::instructions::interrupts::without_interrupts(|| REPORT.lock().as_mut().map(body))
}

/// Opens the report at [`Stage::Firmware`], with a text console on the framebuffer when the
/// firmware left a usable one, and writes what the kernel got from the stub. Needs the heap.
/// A second call does nothing.
pub fn start(boot_info: &BootInfo) {
    RSDP_ADDRESS.store(boot_info.rsdp_address, Ordering::Release);
    let console = boot_info
        .framebuffer()
        .and_then(Screen::new)
        .and_then(TextConsole::new);
    let has_console = console.is_some();
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut report = REPORT.lock();
        if report.is_none() {
            *report = Some(Report {
                stage: Stage::Firmware,
                lines: Vec::new(),
                lines_not_kept: 0,
                outcome: None,
                console,
            });
        }
    });
    STARTED.store(true, Ordering::Release);
    hvdiag!(
        "begin dxgos-kernel={} console={} stages={}",
        env!("CARGO_PKG_VERSION"),
        if has_console { "framebuffer" } else { "none" },
        StageList
    );
    hvdiag!("stage {}", Stage::Firmware);
    probes::report_firmware(boot_info);
}

struct StageList;

impl fmt::Display for StageList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, stage) in Stage::ALL.iter().enumerate() {
            if index > 0 {
                f.write_char(',')?;
            }
            f.write_str(stage.name())?;
        }
        Ok(())
    }
}

/// Adds one report line: `hvdiag: ` and `arguments`. Use the [`hvdiag!`] macro.
pub fn line(arguments: fmt::Arguments<'_>) {
    if !STARTED.load(Ordering::Acquire) {
        return;
    }
    let text = one_line(arguments);
    with_report(|report| report.add(text, Colour::GREY));
}

/// The boot is now in `stage`; does nothing unless `stage` comes after the current one.
pub fn enter(stage: Stage) {
    crate::host_time::mark_stage(stage as usize);
    with_report(|report| {
        if report.outcome.is_none() && stage > report.stage {
            report.stage = stage;
            STAGE_INDEX.store(stage as u8, Ordering::Release);
            report.add(one_line(format_args!("stage {stage}")), Colour::GREY);
        }
    });
}

/// How the report ended, if it has.
pub fn outcome() -> Option<Outcome> {
    with_report(|report| report.outcome).flatten()
}

/// Ends the report: `hvdiag: result fail stage=<current stage> reason=<reason>`. Only the
/// first result counts.
pub fn fail(reason: impl fmt::Display) {
    if !STARTED.load(Ordering::Acquire) {
        return;
    }
    let reason = one_line(format_args!("{reason}"));
    with_report(|report| report.finish(Outcome::Failed, &reason));
}

/// Ends the report: `hvdiag: result ok stage=<current stage> reason=none`. Only the first
/// result counts.
pub fn finish_ok() {
    with_report(|report| report.finish(Outcome::Ok, "none"));
}

/// Before the heap exists (or outside the report): writes a result line on COM1 only.
pub fn fail_early(stage: Stage, reason: fmt::Arguments<'_>) {
    crate::serial::finish_line();
    crate::serial::write_fmt(format_args!(
        "{PREFIX}result fail stage={stage} reason={reason}\n"
    ));
}

/// From the panic handler: when the report is open, writes its result line on COM1 without
/// taking the report's lock or allocating (the panicking code may hold either).
pub fn fail_from_panic(info: &core::panic::PanicInfo<'_>) {
    if !STARTED.load(Ordering::Acquire) || FINISHED.swap(true, Ordering::AcqRel) {
        return;
    }
    let stage =
        Stage::ALL[usize::from(STAGE_INDEX.load(Ordering::Acquire)).min(Stage::ALL.len() - 1)];
    fail_early(stage, format_args!("kernel panic: {}", info.message()));
}

/// After a failed report: repeats it on COM1 every [`REPEAT_INTERVAL_MILLISECONDS`] (the
/// timer wakes this task; the CPU halts in between), [`REPEAT_LIMIT`] times, then halts.
pub fn idle_after_failure() -> ! {
    for repeat in 1..=REPEAT_LIMIT {
        crate::task::sleep_milliseconds(REPEAT_INTERVAL_MILLISECONDS);
        with_report(|report| report.repeat(repeat));
    }
    crate::arch::cpu::halt_forever()
}

/// Adds a warning or error logged while the report is open (called by the logger). Skipped,
/// never waited for, when the report is busy (a log record from inside the report's own
/// lock would otherwise deadlock).
pub fn log_record(level: log::Level, target: &str, message: &fmt::Arguments<'_>) {
    if !STARTED.load(Ordering::Acquire) || level > log::Level::Warn {
        return;
    }
    let text = one_line(format_args!(
        "log {} {target}: {message}",
        level.as_str().to_ascii_lowercase()
    ));
    x86_64::instructions::interrupts::without_interrupts(|| {
        if let Some(mut report) = REPORT.try_lock()
            && let Some(report) = report.as_mut()
            && report.outcome.is_none()
        {
            report.add(text, Colour::GREY);
        }
    });
}

impl Report {
    /// Prints `text` (already one line, without the prefix) and keeps it while the report is
    /// open; after the result it goes to COM1 only.
    fn add(&mut self, text: String, colour: Colour) {
        crate::serial::finish_line();
        crate::serial::write_fmt(format_args!("{PREFIX}{text}\n"));
        if self.outcome.is_some() {
            return;
        }
        if let Some(console) = &mut self.console {
            console.write_line(&alloc::format!("{PREFIX}{text}"), colour);
        }
        if self.lines.len() < MAX_LINES {
            self.lines.push(text);
        } else {
            self.lines_not_kept += 1;
        }
    }

    fn finish(&mut self, outcome: Outcome, reason: &str) {
        if self.outcome.is_some() || FINISHED.load(Ordering::Acquire) {
            return;
        }
        let (word, colour) = match outcome {
            Outcome::Ok => ("ok", Colour::GREEN),
            Outcome::Failed => ("fail", Colour::RED),
        };
        let text = one_line(format_args!(
            "result {word} stage={} reason={reason}",
            self.stage
        ));
        self.add(text, colour);
        self.outcome = Some(outcome);
        FINISHED.store(true, Ordering::Release);
        if outcome == Outcome::Ok {
            // The screen belongs to the applications from now on.
            self.console = None;
        }
    }

    fn repeat(&self, repeat: u32) {
        crate::serial::finish_line();
        crate::serial::write_fmt(format_args!(
            "{PREFIX}repeat {repeat} of {REPEAT_LIMIT} ({} lines, {} not kept)\n",
            self.lines.len(),
            self.lines_not_kept
        ));
        for text in &self.lines {
            crate::serial::write_fmt(format_args!("{PREFIX}{text}\n"));
        }
    }
}

/// Formats `arguments` as one line: line breaks and other control characters become spaces,
/// and the text is cut at [`MAX_LINE_CHARACTERS`].
fn one_line(arguments: fmt::Arguments<'_>) -> String {
    let mut writer = OneLineWriter {
        text: String::new(),
        characters: 0,
    };
    let _ = writer.write_fmt(arguments);
    writer.text
}

struct OneLineWriter {
    text: String,
    characters: usize,
}

impl Write for OneLineWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for character in text.chars() {
            if self.characters == MAX_LINE_CHARACTERS {
                return Ok(());
            }
            self.text.push(if character.is_control() {
                ' '
            } else {
                character
            });
            self.characters += 1;
        }
        Ok(())
    }
}
