//! Kernel symbols for the guest's exception reports: the kernel prints addresses only (its
//! image on the ESP is stripped, and it carries no symbol table of its own), so the runner
//! names them from the unstripped kernel ELF that build.rs left beside the boot disk
//! ([`crate::KERNEL_ELF`]).
//!
//! [`Symbols::annotate`] appends ` <function+0xoffset>` to the lines of a report that hold a
//! kernel address: the backtrace frames (`    3: 0xffffffff80123456`) and the register line
//! that starts with `rip`. Other lines, addresses outside every function (ring-3 code, data)
//! and a missing or unreadable ELF leave the console as it was.
//!
//! Frame 0 and the `rip` line are the faulting instruction itself; frames 1 and up are return
//! addresses, the instruction after a call, which for a call that never returns (a panic) is
//! the first byte after the calling function: those are looked up one byte earlier, inside
//! the call, as debuggers do. (The kernel numbers a panic's frames from 1 for that reason.)

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// The function symbols of one ELF, sorted by address.
#[derive(Debug, Default)]
pub struct Symbols {
    /// (start, size, demangled name without the hash), sorted by start.
    functions: Vec<(u64, u64, String)>,
}

impl Symbols {
    /// The function symbols of the ELF at `path`; empty when it cannot be read or parsed (the
    /// reports then stay as the kernel printed them).
    pub fn load(path: &str) -> Symbols {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| Symbols::from_elf(&bytes).ok())
            .unwrap_or_default()
    }

    /// The function symbols of the ELF image `bytes`.
    pub fn from_elf(bytes: &[u8]) -> Result<Symbols, object::Error> {
        let file = object::File::parse(bytes)?;
        // Functions, and the labels of assembly entry points (untyped symbols in code, such
        // as the interrupt stubs), which have no size: they run to the next symbol.
        let in_code = |symbol: &object::Symbol<'_, '_>| {
            symbol
                .section_index()
                .and_then(|index| file.section_by_index(index).ok())
                .is_some_and(|section| section.kind() == SectionKind::Text)
        };
        let functions = file
            .symbols()
            .filter(|symbol| symbol.address() != 0)
            .filter(|symbol| match symbol.kind() {
                SymbolKind::Text => true,
                SymbolKind::Unknown => in_code(symbol),
                _ => false,
            })
            .filter_map(|symbol| {
                let name = symbol.name().ok().filter(|name| !name.is_empty())?;
                let name = format!("{:#}", rustc_demangle::demangle(name));
                Some((symbol.address(), symbol.size(), name))
            })
            .collect();
        Ok(Symbols::from_functions(functions))
    }

    /// Symbols from `(start, size, name)` entries in any order.
    pub fn from_functions(mut functions: Vec<(u64, u64, String)>) -> Symbols {
        functions.sort_by_key(|&(start, size, _)| (start, core::cmp::Reverse(size)));
        functions.dedup_by_key(|entry| entry.0);
        Symbols { functions }
    }

    /// How many functions are known.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.functions.len()
    }

    /// Whether no function is known.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// The start address of the function named `name` (demangled, without hash).
    #[cfg(test)]
    fn address_of(&self, name: &str) -> Option<u64> {
        self.functions
            .iter()
            .find(|(_, _, function)| function == name)
            .map(|&(start, _, _)| start)
    }

    /// The function containing `address` and the offset into it. A symbol without a size
    /// covers up to the next symbol.
    pub fn lookup(&self, address: u64) -> Option<(&str, u64)> {
        let index = self
            .functions
            .partition_point(|&(start, _, _)| start <= address)
            .checked_sub(1)?;
        let (start, size, name) = &self.functions[index];
        let offset = address - start;
        let end = match self.functions.get(index + 1) {
            _ if *size != 0 => start.saturating_add(*size),
            Some((next, _, _)) => *next,
            None => return None,
        };
        (address < end).then_some((name.as_str(), offset))
    }

    /// `line` with ` <function+0xoffset>` appended when it is a backtrace frame or the `rip`
    /// register line of an exception report and its address lies in a known function (a return
    /// address, frame 1 and up, is looked up one byte earlier: see the module docs).
    pub fn annotate(&self, line: &str) -> String {
        let found = report_address(line).and_then(|(address, returns_to)| {
            if returns_to {
                let (name, offset) = self.lookup(address.checked_sub(1)?)?;
                Some((name, offset + 1))
            } else {
                self.lookup(address)
            }
        });
        match found {
            Some((name, offset)) => format!("{line}  <{name}+{offset:#x}>"),
            None => line.to_string(),
        }
    }
}

/// The address a report line names, and whether it is a return address: a backtrace frame
/// `<spaces><depth>: 0x<hex>` (a return address from depth 1 on) or a register line
/// `<spaces>rip 0x<hex> …`.
fn report_address(line: &str) -> Option<(u64, bool)> {
    let trimmed = line.trim_start();
    if trimmed.len() == line.len() {
        return None;
    }
    let (hex, returns_to) = if let Some(rest) = trimmed.strip_prefix("rip 0x") {
        (rest.split_whitespace().next()?, false)
    } else {
        let (depth, rest) = trimmed.split_once(": 0x")?;
        if depth.is_empty() || !depth.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        (rest.trim_end(), depth != "0")
    };
    Some((u64::from_str_radix(hex, 16).ok()?, returns_to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols() -> Symbols {
        Symbols::from_functions(vec![
            (0xffff_ffff_8000_2000, 0x40, "kernel::b".into()),
            (0xffff_ffff_8000_1000, 0x100, "kernel::a".into()),
            (0xffff_ffff_8000_3000, 0, "kernel::sizeless".into()),
            (0xffff_ffff_8000_4000, 0x10, "kernel::last".into()),
        ])
    }

    #[test]
    fn lookup_finds_the_containing_function() {
        let symbols = symbols();
        assert_eq!(
            symbols.lookup(0xffff_ffff_8000_1000),
            Some(("kernel::a", 0))
        );
        assert_eq!(
            symbols.lookup(0xffff_ffff_8000_10ff),
            Some(("kernel::a", 0xff))
        );
        // Past a sized function's end, before the next one: no function.
        assert_eq!(symbols.lookup(0xffff_ffff_8000_1100), None);
        assert_eq!(symbols.lookup(0xffff_ffff_8000_0fff), None);
        // A symbol without a size runs to the next one.
        assert_eq!(
            symbols.lookup(0xffff_ffff_8000_3fff),
            Some(("kernel::sizeless", 0xfff))
        );
        assert_eq!(symbols.lookup(0xffff_ffff_8000_4010), None);
        assert_eq!(symbols.lookup(0x40_1000), None);
        assert_eq!(symbols.lookup(u64::MAX), None);
    }

    #[test]
    fn only_report_lines_are_annotated() {
        let symbols = symbols();
        assert_eq!(
            symbols.annotate("    0: 0xffffffff80002004"),
            "    0: 0xffffffff80002004  <kernel::b+0x4>"
        );
        // A return address is the instruction after the call: one that ends its function
        // (a call that never returns) belongs to that function, not to the next or to none.
        assert_eq!(
            symbols.annotate("    1: 0xffffffff80002040"),
            "    1: 0xffffffff80002040  <kernel::b+0x40>"
        );
        assert_eq!(
            symbols.annotate("    2: 0xffffffff80001100"),
            "    2: 0xffffffff80001100  <kernel::a+0x100>"
        );
        // The faulting instruction itself (frame 0) at a function's first byte stays there.
        assert_eq!(
            symbols.annotate("    0: 0xffffffff80002000"),
            "    0: 0xffffffff80002000  <kernel::b+0x0>"
        );
        assert_eq!(
            symbols.annotate("  rip 0xffffffff80001010 cs 0x0008 rflags 0x00000046"),
            "  rip 0xffffffff80001010 cs 0x0008 rflags 0x00000046  <kernel::a+0x10>"
        );
        for unchanged in [
            "    0: 0x000000000040ed01",
            "0: 0xffffffff80002004",
            "    x: 0xffffffff80002004",
            "test 0: 0xffffffff80002004",
            "  rax 0xffffffff80002004 rbx 0x0",
            "    0: 0xzz",
            "    0: 0x1ffffffffffffffff",
            "",
        ] {
            assert_eq!(symbols.annotate(unchanged), unchanged);
        }
    }

    /// The kernel build.rs made has function symbols, and an address inside the exception
    /// handler (which the optimiser may inline into its caller, but not away) is named after
    /// the function that holds it.
    #[test]
    fn the_built_kernel_names_its_functions() {
        let symbols = Symbols::load(crate::KERNEL_ELF);
        assert!(symbols.len() > 100, "{} functions", symbols.len());
        let (start, name) = [
            "kernel::arch::exceptions::handle",
            "kernel::arch::interrupt_entry::interrupt_dispatch",
        ]
        .into_iter()
        .find_map(|name| Some((symbols.address_of(name)?, name)))
        .expect("neither the exception handler nor its caller is among the kernel's functions");
        assert_eq!(symbols.lookup(start + 1), Some((name, 1)));
        assert!(Symbols::load("/nonexistent/kernel").is_empty());
        // The interrupt stubs are assembly labels (untyped symbols): named all the same.
        assert!(
            symbols.address_of("interrupt_common").is_some(),
            "the interrupt entry's assembly label is not named"
        );
    }
}
