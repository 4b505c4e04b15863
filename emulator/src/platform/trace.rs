//! The human-readable protocol trace: one timestamped line per frame, MSR access, hypercall,
//! message and interrupt.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// A trace sink; disabled traces cost nothing.
pub struct Trace {
    out: Option<Box<dyn Write + Send>>,
    start: Instant,
}

impl Trace {
    /// A trace that records nothing.
    pub fn disabled() -> Self {
        Self {
            out: None,
            start: Instant::now(),
        }
    }

    /// A trace written to `path` (created or truncated).
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::create(path)?;
        Ok(Self::to_writer(Box::new(std::io::LineWriter::new(file))))
    }

    /// A trace written to any sink.
    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Some(out),
            start: Instant::now(),
        }
    }

    /// Whether lines are recorded.
    pub fn is_enabled(&self) -> bool {
        self.out.is_some()
    }

    /// Records one line, prefixed with seconds since the trace started. A failing sink
    /// disables the trace (logged once).
    pub fn line(&mut self, text: impl FnOnce() -> String) {
        let Some(out) = &mut self.out else { return };
        let elapsed = self.start.elapsed();
        if let Err(error) = writeln!(
            out,
            "[{:>5}.{:06}] {}",
            elapsed.as_secs(),
            elapsed.subsec_micros(),
            text()
        ) {
            log::warn!("protocol trace disabled: {error}");
            self.out = None;
        }
    }
}
