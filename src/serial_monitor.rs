//! Reading the guest's COM1 stream: echo it, keep it, and know which test is running.
//!
//! The kernel prints `test <name> ... ` before a test runs and `ok` or `FAILED: ...` on the same
//! line when it ends, so a line that starts a test without finishing it names the test that hung.
//!
//! In `mode=run` the kernel writes a boot report whose last line is
//! `hvdiag: result <ok|fail> stage=<stage> reason=<text>` (see `docs/boot-report.md`); the
//! monitor keeps the first such line ([`SerialMonitor::boot_report_failed`]). After `result
//! fail` the guest idles (on Hyper-V it repeats the report), so the runner ends QEMU then.

/// The prefix of the boot report's result line.
const RESULT_PREFIX: &str = "hvdiag: result ";

/// The boot report's result line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootReportResult {
    /// `ok` (true) or `fail` (false).
    pub ok: bool,
    /// The stage named by `stage=`.
    pub stage: String,
    /// The text after `reason=`.
    pub reason: String,
}

impl BootReportResult {
    /// Parses `hvdiag: result <ok|fail> stage=<stage> reason=<text>`; `None` for any other line.
    pub fn parse(line: &str) -> Option<BootReportResult> {
        let rest = line.trim_end().strip_prefix(RESULT_PREFIX)?;
        let (verdict, rest) = rest.split_once(' ')?;
        let ok = match verdict {
            "ok" => true,
            "fail" => false,
            _ => return None,
        };
        let (stage, reason) = rest.strip_prefix("stage=")?.split_once(' ')?;
        let reason = reason.strip_prefix("reason=")?;
        Some(BootReportResult {
            ok,
            stage: stage.to_string(),
            reason: reason.to_string(),
        })
    }
}

/// Incremental view of the guest's console.
#[derive(Default)]
pub struct SerialMonitor {
    transcript: String,
    partial: String,
    running_test: Option<String>,
    started: bool,
    boot_report_result: Option<BootReportResult>,
}

impl SerialMonitor {
    /// Feeds raw bytes from COM1; returns the complete lines they finished (ANSI escapes and
    /// carriage returns removed), including the firmware's lines.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for character in String::from_utf8_lossy(bytes).chars() {
            match character {
                '\n' => {
                    let line = strip_escapes(&std::mem::take(&mut self.partial));
                    self.observe(&line, true);
                    self.transcript.push_str(&line);
                    self.transcript.push('\n');
                    lines.push(line);
                }
                '\r' => {}
                other => self.partial.push(other),
            }
        }
        let partial = strip_escapes(&self.partial);
        self.observe(&partial, false);
        lines
    }

    fn observe(&mut self, line: &str, complete: bool) {
        if complete && self.boot_report_result.is_none() {
            self.boot_report_result = BootReportResult::parse(line);
        }
        if line.contains("dxgos boot stub") || line.contains("dxgos kernel") {
            self.started = true;
        }
        if let Some(rest) = line.strip_prefix("test ") {
            if let Some((name, result)) = rest.split_once(" ... ") {
                self.running_test =
                    if result.trim().is_empty() && !complete || result.trim().is_empty() {
                        Some(name.to_string())
                    } else {
                        None
                    };
            } else if let Some(name) = rest.strip_suffix(" ...") {
                self.running_test = Some(name.to_string());
            }
        }
    }

    /// Whether the dxgos stub or kernel has printed anything yet (before that it is firmware).
    pub fn guest_started(&self) -> bool {
        self.started
    }

    /// The test that has started and not finished, if any.
    pub fn running_test(&self) -> Option<&str> {
        self.running_test.as_deref()
    }

    /// Whether the boot report ended with `result fail`.
    pub fn boot_report_failed(&self) -> bool {
        self.boot_report_result
            .as_ref()
            .is_some_and(|result| !result.ok)
    }

    /// Everything received so far, escapes removed.
    pub fn transcript(&self) -> String {
        let mut text = self.transcript.clone();
        text.push_str(&strip_escapes(&self.partial));
        text
    }
}

/// Removes ANSI/VT100 escape sequences (OVMF's console uses them).
fn strip_escapes(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        if character == '\u{1b}' {
            if characters.peek() == Some(&'[') {
                characters.next();
                for following in characters.by_ref() {
                    if following.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        output.push(character);
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_running_test_until_it_finishes() {
        let mut monitor = SerialMonitor::default();
        monitor.push(b"\x1b[2J\x1b[01;01Hfirmware noise\r\n");
        assert!(!monitor.guest_started());
        monitor.push(b"dxgos kernel 0.1\r\ntest heap_stress ... ");
        assert!(monitor.guest_started());
        assert_eq!(monitor.running_test(), Some("heap_stress"));
        monitor.push(b"ok\r\ntest page_fault ... ");
        assert_eq!(monitor.running_test(), Some("page_fault"));
        let lines = monitor.push(b"FAILED: boom\n");
        assert_eq!(lines, vec!["test page_fault ... FAILED: boom".to_string()]);
        assert_eq!(monitor.running_test(), None);
        assert!(monitor.transcript().contains("firmware noise\n"));
    }

    #[test]
    fn recognises_the_boot_report_result_only_on_a_complete_line() {
        let mut monitor = SerialMonitor::default();
        monitor.push(b"dxgos kernel\r\nhvdiag: stage offers\r\nhvdiag: result fail stage=off");
        assert!(!monitor.boot_report_failed());
        monitor.push(b"ers reason=offers: no dxg global channel\r\n");
        assert!(monitor.boot_report_failed());
        let result = monitor.boot_report_result.clone().unwrap();
        assert_eq!(result.stage, "offers");
        assert_eq!(result.reason, "offers: no dxg global channel");
        // The repeats of the report do not replace the first result.
        monitor.push(b"hvdiag: result ok stage=gpupv-check reason=none\r\n");
        assert!(monitor.boot_report_failed());
    }

    #[test]
    fn parses_ok_and_rejects_other_lines() {
        let ok = BootReportResult::parse("hvdiag: result ok stage=gpupv-check reason=none\r");
        assert_eq!(
            ok,
            Some(BootReportResult {
                ok: true,
                stage: "gpupv-check".into(),
                reason: "none".into(),
            })
        );
        for line in [
            "hvdiag: result maybe stage=acpi reason=x",
            "hvdiag: result fail reason=x",
            "hvdiag: result fail stage=acpi",
            "  hvdiag: result fail stage=acpi reason=x",
            "hvdiag: stage acpi",
        ] {
            assert_eq!(BootReportResult::parse(line), None, "{line}");
        }
    }
}
