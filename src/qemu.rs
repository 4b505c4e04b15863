//! Starting QEMU for one run and mapping its end to a [`GuestExit`].

use crate::firmware::{FirmwareError, find_firmware, find_qemu};
use crate::platform_layout::{MemoryLayout, default_gaps};
use crate::serial_monitor::SerialMonitor;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hyperv::mmio::MmioGaps;

/// What the kernel does after boot (`mode=` on its command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The normal boot path (the demo).
    Run,
    /// The in-kernel tests.
    Test,
    /// The in-kernel benchmarks.
    Bench,
    /// The chaos run: driver faults while an app runs in a loop (`kernel/src/chaos.rs`).
    Chaos,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Test => "test",
            Mode::Bench => "bench",
            Mode::Chaos => "chaos",
        }
    }
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// What the kernel does.
    pub mode: Mode,
    /// `tests=` for the kernel (comma-separated names; `None` runs all).
    pub tests: Option<String>,
    /// `log=` level for the kernel.
    pub log_level: String,
    /// Further `key=value` words for the kernel command line (fault injection, say).
    pub extra_command_line: Vec<String>,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Echo the guest console (firmware lines too when `verbose`).
    pub echo: bool,
    /// Echo the firmware's own console lines as well.
    pub verbose: bool,
    /// A name for the per-run files under `target/run/`.
    pub name: String,
    /// Guest RAM in MiB (kept below 2 GiB: all of it then sits below q35's PCI hole).
    pub memory_mib: u32,
    /// Start the emulated Hyper-V host (off: the guest finds no hypervisor).
    pub emulator: bool,
    /// How the guest reaches the emulated host (`--link`).
    pub link: emulator::platform::Transport,
    /// Write the emulator's protocol trace here.
    pub trace: Option<PathBuf>,
    /// The VMBus MMIO gaps the emulated firmware offers (`--mmio-gaps`).
    pub mmio_gaps: MmioGaps,
    /// What the emulated host offers (`crate::host::HostOptions`).
    pub host: crate::host::HostOptions,
    /// Count guest instructions: QEMU runs with `ICOUNT_ARGUMENTS` (unless the `DXGOS_QEMU`
    /// wrapper already passes `-icount`) and the kernel's benches report `instructions`.
    pub icount: bool,
}

/// QEMU's deterministic instruction counting: one guest instruction per nanosecond of
/// virtual time (`shift=0`, so the guest's TSC ticks once per instruction), the virtual clock
/// not held back to the host's (`align=off`), and a halted processor's clock jumping to the
/// next timer deadline (`sleep=off`).
pub const ICOUNT_ARGUMENTS: [&str; 2] = ["-icount", "shift=0,align=off,sleep=off"];

/// Whether `qemu` is a wrapper script that passes `-icount` itself (a `#!` file mentioning
/// it), so that the runner must not add a second one.
pub fn wrapper_passes_icount(qemu: &Path) -> bool {
    let Ok(bytes) = std::fs::read(qemu) else {
        return false;
    };
    bytes.starts_with(b"#!") && bytes.windows(7).any(|window| window == b"-icount")
}

impl RunConfig {
    /// Defaults for `mode`.
    pub fn new(mode: Mode) -> Self {
        RunConfig {
            mode,
            tests: None,
            log_level: "info".into(),
            extra_command_line: Vec::new(),
            timeout: Duration::from_secs(180),
            echo: true,
            verbose: false,
            name: mode.name().into(),
            memory_mib: 512,
            emulator: true,
            link: link_from_environment(),
            trace: None,
            mmio_gaps: default_gaps(),
            host: crate::host::HostOptions::default(),
            icount: false,
        }
    }

    /// The kernel command line for this run.
    pub fn command_line(&self) -> String {
        let mut words = vec![
            format!("mode={}", self.mode.name()),
            format!("log={}", self.log_level),
        ];
        if let Some(tests) = &self.tests {
            words.push(format!("tests={tests}"));
        }
        if self.icount {
            words.push("bench-unit=instructions".into());
        }
        words.extend(self.extra_command_line.iter().cloned());
        // When the host will ask for a shutdown or restart, the guest stays up for it after the
        // demo (with a generous margin: QEMU under TCG on a loaded machine is slow).
        if let Some((delay, _)) = self.host.integration.shutdown
            && !words.iter().any(|word| word.starts_with("ic-wait="))
        {
            words.push(format!("ic-wait={}", delay.as_secs() + 240));
        }
        words.join(" ")
    }
}

/// How the guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestExit {
    /// The guest reported success through isa-debug-exit (QEMU status 33).
    Success,
    /// The guest reported failure through isa-debug-exit (QEMU status 35).
    Failure,
    /// The run was killed at the timeout; names the test that had started and not finished.
    Timeout {
        /// The in-kernel test running at the time, if any.
        hung_test: Option<String>,
    },
    /// The guest powered itself off (ACPI S5) after printing [`POWER_OFF_MARKER`]: an orderly
    /// shutdown, a success.
    PoweredOff,
    /// The guest reset itself after printing [`RESTART_MARKER`] (QEMU runs with `-no-reboot`,
    /// so the reset ends QEMU): an orderly restart.
    Restarted,
    /// QEMU ended some other way (an unannounced reset or power-off, QEMU error); its exit
    /// status.
    Other(Option<i32>),
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    /// How the guest ended.
    pub exit: GuestExit,
    /// The guest console (COM1), escapes removed.
    pub console: String,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The screen as QEMU showed it when the guest printed [`SCREENSHOT_MARKER`] (PPM).
    pub screenshot: Option<PathBuf>,
    /// What the emulated host still held when QEMU ended (`None` without the emulator).
    pub host_counts: Option<crate::host::HostCounts>,
    /// How the emulated host's ivshmem link interrupted the guest (`None` without the
    /// emulator; zero over COM2).
    pub link_interrupts: Option<emulator::platform::InterruptStatistics>,
}

/// The guest's last line before it powers off through ACPI S5.
pub const POWER_OFF_MARKER: &str = "shutdown: complete";
/// The guest's last line before it resets through the FADT reset register.
pub const RESTART_MARKER: &str = "restart: complete";

/// A guest console line containing this asks the runner for a screendump (QMP) of the display.
pub const SCREENSHOT_MARKER: &str = "dxgos: screen ready";

/// A run that could not be started.
#[derive(Debug)]
pub enum RunnerError {
    /// QEMU or OVMF is missing.
    Firmware(FirmwareError),
    /// Preparing the run's files or starting QEMU failed.
    Io(String),
}

impl std::fmt::Display for RunnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunnerError::Firmware(error) => error.fmt(f),
            RunnerError::Io(error) => f.write_str(error),
        }
    }
}

impl std::error::Error for RunnerError {}

impl From<FirmwareError> for RunnerError {
    fn from(error: FirmwareError) -> Self {
        RunnerError::Firmware(error)
    }
}

fn io_error(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> RunnerError {
    let context = format!("{what} {}", path.display());
    move |error| RunnerError::Io(format!("{context}: {error}"))
}

/// Kills QEMU when dropped, so an early return or a panic never leaves it running.
struct QemuProcess(Child);

impl Drop for QemuProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The link transport `DXGOS_LINK` names (`com2` or `ivshmem`), ivshmem when unset or
/// unknown: lets a whole `cargo test` run over COM2 for comparison (`docs/performance.md` §4).
fn link_from_environment() -> emulator::platform::Transport {
    match std::env::var("DXGOS_LINK").as_deref() {
        Ok("com2") => emulator::platform::Transport::Com2,
        _ => emulator::platform::Transport::Ivshmem,
    }
}

/// QEMU's arguments for the link to the emulated hypervisor (after COM1's `-serial`).
///
/// - ivshmem: the emulator's ivshmem server socket as a chardev and an `ivshmem-doorbell`
///   device on it with one MSI-X vector (the guest's interrupt); the shared mailboxes are its
///   BAR2 (`docs/emulated-platform.md`).
/// - COM2: the second `-serial` is COM2 (I/O 0x2F8, IRQ 3), its chardev the emulator's socket.
pub fn link_arguments(link: emulator::platform::Transport, socket: &Path) -> Vec<String> {
    let chardev = format!("socket,id=hvlink,path={}", socket.display());
    match link {
        emulator::platform::Transport::Ivshmem => vec![
            "-chardev".into(),
            chardev,
            "-device".into(),
            "ivshmem-doorbell,chardev=hvlink,vectors=1".into(),
        ],
        emulator::platform::Transport::Com2 => vec![
            "-chardev".into(),
            chardev,
            "-serial".into(),
            "chardev:hvlink".into(),
        ],
    }
}

/// Boots the image with `config` and waits for the guest to end.
pub fn run(config: &RunConfig) -> Result<RunOutcome, RunnerError> {
    let qemu = find_qemu()?;
    let firmware = find_firmware()?;
    let run_directory = PathBuf::from(crate::TARGET_DIRECTORY).join("run");
    std::fs::create_dir_all(&run_directory).map_err(io_error("create", &run_directory))?;
    let image = run_directory.join(format!("{}.img", config.name));
    let read = |path: &str| std::fs::read(path).map_err(io_error("read", Path::new(path)));
    let stub = read(crate::BOOT_STUB)?;
    let kernel = read(crate::KERNEL_ON_ESP)?;
    let mut command_line = config.command_line();
    // A `DXGOS_QEMU` wrapper that passes `-icount` itself counts instructions too.
    if !config.icount && wrapper_passes_icount(&qemu) {
        command_line.push_str(" bench-unit=instructions");
    }
    let contents = disk_image::DiskContents {
        boot_stub: &stub,
        kernel: &kernel,
        command_line: &command_line,
    };
    disk_image::write(&contents, &image)
        .map_err(|error| RunnerError::Io(format!("write {}: {error}", image.display())))?;
    let variables = run_directory.join(format!("{}.OVMF_VARS.fd", config.name));
    std::fs::copy(&firmware.variables, &variables)
        .map_err(io_error("copy OVMF variables to", &variables))?;
    let memory_file = run_directory.join(format!("{}.ram", config.name));
    let socket = run_directory.join(format!("{}.hvlink", config.name));
    let qmp_socket = run_directory.join(format!("{}.qmp", config.name));
    let layout = MemoryLayout::new(u64::from(config.memory_mib), config.mmio_gaps)
        .map_err(RunnerError::Io)?;
    let dimm_file = run_directory.join(format!("{}.vmbus-mmio", config.name));
    let ssdt_file = run_directory.join(format!("{}.ssdt.aml", config.name));
    crate::firmware_tables::write(&layout, &dimm_file, &ssdt_file)?;
    let emulator = if config.emulator {
        Some(crate::host::start(
            &memory_file,
            &socket,
            &layout,
            &dimm_file,
            config.link,
            config.trace.clone(),
            &config.host,
        )?)
    } else {
        None
    };

    let mut command = Command::new(&qemu);
    if config.icount && !wrapper_passes_icount(&qemu) {
        command.args(ICOUNT_ARGUMENTS);
    }
    command
        .args([
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
            "-vga",
            "std",
        ])
        .args(["-machine", "q35,memory-backend=ram"])
        .arg("-m")
        .arg(layout.memory_argument())
        .args(layout.dimm_arguments(&dimm_file))
        .arg("-acpitable")
        .arg(format!("file={}", ssdt_file.display()))
        .arg("-object")
        .arg(format!(
            "memory-backend-file,id=ram,size={}M,mem-path={},share=on",
            config.memory_mib,
            memory_file.display()
        ))
        .args(["-cpu", "max"])
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            firmware.code.display()
        ))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", variables.display()))
        .arg("-drive")
        .arg(format!("format=raw,file={}", image.display()))
        .args(["-serial", "stdio"]);
    if emulator.is_some() {
        command.args(link_arguments(config.link, &socket));
    }
    command
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp_socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = command.spawn().map_err(io_error("start", &qemu))?;
    let mut process = QemuProcess(child);

    let (sender, receiver) = mpsc::channel::<Vec<u8>>();
    let mut stdout = process
        .0
        .stdout
        .take()
        .ok_or_else(|| RunnerError::Io("QEMU stdout".into()))?;
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(count) = stdout.read(&mut buffer) {
            if count == 0 || sender.send(buffer[..count].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut stderr = process
        .0
        .stderr
        .take()
        .ok_or_else(|| RunnerError::Io("QEMU stderr".into()))?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut monitor = SerialMonitor::default();
    // Names for the kernel addresses of exception reports (nothing to do when not echoing).
    let symbols = if config.echo {
        crate::symbols::Symbols::load(crate::KERNEL_ELF)
    } else {
        crate::symbols::Symbols::default()
    };
    let mut screenshot = None;
    let status = loop {
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(bytes) => {
                for line in monitor.push(&bytes) {
                    if config.echo && (config.verbose || monitor.guest_started()) {
                        println!("{}", symbols.annotate(&line));
                    }
                    if line.contains(SCREENSHOT_MARKER) {
                        let path = run_directory.join(format!("{}.screen.ppm", config.name));
                        match crate::screenshot::take(&qmp_socket, &path) {
                            Ok(()) => screenshot = Some(path),
                            Err(error) => eprintln!("dxgos: screendump failed: {error}"),
                        }
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = process.0.wait().map_err(io_error("wait for", &qemu))?;
                break Some(status);
            }
        }
        if monitor.boot_report_failed() {
            break None; // after `hvdiag: result fail` the guest only idles
        }
        if started.elapsed() > config.timeout {
            break None;
        }
    };
    drop(process);
    let qemu_errors = stderr_reader.join().unwrap_or_default();
    let exit = match status {
        _ if monitor.boot_report_failed() => GuestExit::Failure,
        None => GuestExit::Timeout {
            hung_test: monitor.running_test().map(str::to_string),
        },
        Some(status) => match status.code() {
            Some(33) => GuestExit::Success,
            Some(35) => GuestExit::Failure,
            // QEMU ends with 0 when the guest powers off, or resets under -no-reboot.
            Some(0) if monitor.transcript().contains(POWER_OFF_MARKER) => GuestExit::PoweredOff,
            Some(0) if monitor.transcript().contains(RESTART_MARKER) => GuestExit::Restarted,
            code => {
                if !qemu_errors.trim().is_empty() {
                    eprintln!("qemu: {}", qemu_errors.trim());
                }
                GuestExit::Other(code)
            }
        },
    };
    let host = emulator.map(crate::host::RunningHost::finish);
    let _ = std::fs::remove_file(&memory_file);
    let _ = std::fs::remove_file(&dimm_file);
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&qmp_socket);
    Ok(RunOutcome {
        exit,
        console: monitor.transcript(),
        elapsed: started.elapsed(),
        screenshot,
        host_counts: host.map(|report| report.counts),
        link_interrupts: host.map(|report| report.link_interrupts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(name: &str, text: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("dxgos-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_wrapper_script_passing_icount_is_recognised() {
        let wrapper = script(
            "icount-wrapper",
            b"#!/bin/sh\nexec qemu-system-x86_64 -icount shift=0,align=off,sleep=off \"$@\"\n",
        );
        let plain = script(
            "plain-wrapper",
            b"#!/bin/sh\nexec qemu-system-x86_64 \"$@\"\n",
        );
        // A binary that happens to contain the text is not a wrapper script.
        let binary = script("binary", b"\x7fELF....-icount....");
        assert!(wrapper_passes_icount(&wrapper));
        assert!(!wrapper_passes_icount(&plain));
        assert!(!wrapper_passes_icount(&binary));
        assert!(!wrapper_passes_icount(Path::new("/nonexistent/qemu")));
        for path in [wrapper, plain, binary] {
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn the_link_device_matches_the_transport() {
        let socket = Path::new("/run/x.hvlink");
        assert_eq!(
            link_arguments(emulator::platform::Transport::Ivshmem, socket),
            [
                "-chardev",
                "socket,id=hvlink,path=/run/x.hvlink",
                "-device",
                "ivshmem-doorbell,chardev=hvlink,vectors=1"
            ]
        );
        assert_eq!(
            link_arguments(emulator::platform::Transport::Com2, socket),
            [
                "-chardev",
                "socket,id=hvlink,path=/run/x.hvlink",
                "-serial",
                "chardev:hvlink"
            ]
        );
    }

    #[test]
    fn icount_tells_the_kernel_to_report_instructions() {
        let mut config = RunConfig::new(Mode::Bench);
        assert!(!config.command_line().contains("bench-unit="));
        config.icount = true;
        assert!(
            config
                .command_line()
                .split(' ')
                .any(|word| word == "bench-unit=instructions")
        );
    }
}
