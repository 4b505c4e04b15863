//! `d3dkmt-info`: enumerates the GPU adapters through D3DKMT and prints, for each, what the
//! (emulated or real) host answers: LUID, adapter type flags (KMTQAITYPE_ADAPTERTYPE), PCI ids
//! (KMTQAITYPE_PHYSICALADAPTERDEVICEIDS), driver description (KMTQAITYPE_DRIVER_DESCRIPTION),
//! video memory figures of both segment groups, and a device's execution state.
//!
//! Exits 0 when at least one adapter answered everything, 1 with no adapter, 2 on an error.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

use userlib::gpu::{Adapter, D3dkmtError};
use userlib::sys::{Native, process};
use userlib::{print, println};

/// KMTQAITYPE_PHYSICALADAPTERDEVICEIDS.
const QUERY_PHYSICAL_ADAPTER_DEVICE_IDS: u32 = 31;
/// KMTQAITYPE_DRIVER_DESCRIPTION (a UTF-16 string of up to 256 units).
const QUERY_DRIVER_DESCRIPTION: u32 = 65;

/// The names of the `D3DKMT_ADAPTERTYPE` bits.
const ADAPTER_TYPE_BITS: [&str; 10] = [
    "RenderSupported",
    "DisplaySupported",
    "SoftwareDevice",
    "PostDevice",
    "HybridDiscrete",
    "HybridIntegrated",
    "IndirectDisplayDevice",
    "Paravirtualized",
    "ACGSupported",
    "SupportSetTimingsFromVidPn",
];

/// The entry point.
// SAFETY: `_start` is the entry symbol the linker makes the ELF entry point (the kernel starts
// the process there); nothing else linked into this program (userlib, core, compiler_builtins)
// defines a `_start`, so the unmangled name clashes with no other symbol.
#[unsafe(no_mangle)]
pub extern "C" fn _start(_argument: u64) -> ! {
    let code = match run() {
        Ok(0) => {
            println!("d3dkmt-info: no GPU adapter");
            1
        }
        Ok(_) => 0,
        Err((what, error)) => {
            println!("d3dkmt-info: {what} failed: {error:?}");
            2
        }
    };
    process::exit_now(code)
}

type Failure = (&'static str, D3dkmtError);

fn at<T>(what: &'static str, result: Result<T, D3dkmtError>) -> Result<T, Failure> {
    result.map_err(|error| (what, error))
}

fn run() -> Result<usize, Failure> {
    let mut adapters = at("D3DKMTEnumAdapters2", Adapter::enumerate(&Native))?;
    let count = adapters.len();
    println!("d3dkmt-info: {count} adapter(s)");
    for index in 0..count {
        let Some(adapter) = adapters.take(index) else {
            continue;
        };
        describe(index, &adapter)?;
    }
    Ok(count)
}

fn describe(index: usize, adapter: &Adapter<'_, Native>) -> Result<(), Failure> {
    let luid = adapter.luid();
    println!(
        "adapter {index}: handle {:#x}, LUID {:#x}:{:#x}, {} VidPN source(s)",
        adapter.handle(),
        luid.HighPart,
        luid.LowPart,
        adapter.sources()
    );
    let adapter_type = at("QueryAdapterInfo(ADAPTERTYPE)", adapter.adapter_type())?;
    print!("  type {adapter_type:#x}:");
    for (bit, name) in ADAPTER_TYPE_BITS.iter().enumerate() {
        if adapter_type & (1 << bit) != 0 {
            print!(" {name}");
        }
    }
    println!();

    let mut ids = [0u8; 28];
    at(
        "QueryAdapterInfo(PHYSICALADAPTERDEVICEIDS)",
        adapter.query_info(QUERY_PHYSICAL_ADAPTER_DEVICE_IDS, &mut ids),
    )?;
    let word = |offset: usize| {
        u32::from_le_bytes([
            ids[offset],
            ids[offset + 1],
            ids[offset + 2],
            ids[offset + 3],
        ])
    };
    println!("  PCI vendor {:#06x}, device {:#06x}", word(4), word(8));

    let mut description = [0u8; 512];
    at(
        "QueryAdapterInfo(DRIVER_DESCRIPTION)",
        adapter.query_info(QUERY_DRIVER_DESCRIPTION, &mut description),
    )?;
    print!("  driver description: \"");
    let units = description
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|unit| *unit != 0);
    for character in char::decode_utf16(units) {
        print!("{}", character.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    println!("\"");

    for (group, name) in [(0, "local"), (1, "non-local")] {
        let memory = at("QueryVideoMemoryInfo", adapter.query_video_memory(group))?;
        println!(
            "  {name} video memory: budget {} MiB, usage {} KiB, reservation {} KiB, available {} MiB",
            memory.budget >> 20,
            memory.current_usage >> 10,
            memory.current_reservation >> 10,
            memory.available_for_reservation >> 20
        );
    }
    let device = at("CreateDevice", adapter.create_device())?;
    let state = at("GetDeviceState", device.execution_state())?;
    println!("  a new device's execution state: {state} (1 = active)");
    Ok(())
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    println!("d3dkmt-info: panic");
    process::exit_now(98)
}
