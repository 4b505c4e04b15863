//! Reading the guest's COM1 stream: echo it, keep it, and know which test is running.
//!
//! The kernel prints `test <name> ... ` before a test runs and `ok` or `FAILED: ...` on the same
//! line when it ends, so a line that starts a test without finishing it names the test that hung.

/// Incremental view of the guest's console.
#[derive(Default)]
pub struct SerialMonitor {
    transcript: String,
    partial: String,
    running_test: Option<String>,
    started: bool,
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
}
