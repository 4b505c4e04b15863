//! Formatted console output for applications: [`Console`] implements `core::fmt::Write` over
//! the WriteConsole system call, so `write!(Console::new(&Native), ...)` works without an
//! allocator.

use crate::sys::{Syscall, process};

/// The process's console.
pub struct Console<'k, S: Syscall + ?Sized> {
    kernel: &'k S,
}

impl<'k, S: Syscall + ?Sized> Console<'k, S> {
    /// The console reached through `kernel`.
    pub fn new(kernel: &'k S) -> Self {
        Console { kernel }
    }
}

impl<S: Syscall + ?Sized> core::fmt::Write for Console<'_, S> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let mut rest = text.as_bytes();
        while !rest.is_empty() {
            let written = process::write_console(self.kernel, rest);
            if written <= 0 {
                return Err(core::fmt::Error);
            }
            rest = &rest[(written as usize).min(rest.len())..];
        }
        Ok(())
    }
}

/// Prints to the process console through [`crate::sys::Native`] (errors are ignored).
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(
            &mut $crate::console::Console::new(&$crate::sys::Native),
            format_args!($($argument)*),
        );
    }};
}

/// [`print!`] with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($argument:tt)*) => {{
        $crate::print!($($argument)*);
        $crate::print!("\n");
    }};
}
