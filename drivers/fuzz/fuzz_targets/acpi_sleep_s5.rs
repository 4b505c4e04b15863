//! Fuzzes the bounded `\_S5` search with arbitrary AML bytes (split into up to four tables).
//! Invariants: no panic; a found sleep type fits SLP_TYP's three bits.
#![no_main]

use drivers::acpi_sleep::find_s5;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tables: Vec<&[u8]> = data.chunks(data.len() / 4 + 1).collect();
    if let Ok(types) = find_s5(&tables) {
        assert!(types.a <= 7 && types.b <= 7);
    }
});
