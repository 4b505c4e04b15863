//! Mode 9: benchmarks of the user → kernel path, printed as `bench ...` lines (numbers are
//! reported, never asserted; `cargo run -- bench` runs them). Bit 8 of the argument says the
//! TSC counts instructions (`cargo run -- bench --icount`), and the lines name that unit;
//! bits 16–31, when not zero, replace every sample count (a short run for an instruction
//! trace).
//!
//! - `user_syscall`: an unknown syscall number (entry, dispatch, `STATUS_INVALID_SYSTEM_SERVICE`,
//!   exit): the bare cost of crossing into the kernel and back;
//! - one bench per class of D3DKMT call, each reported twice: the whole call (`bench <name>:`)
//!   and its guest-side part (`bench <name>_guest:`), the whole minus the host's time the
//!   kernel counted meanwhile (`CLOCK_HOST_CYCLES`: halted waiting for the host's interrupt,
//!   or inside the hypervisor interface; under `-icount sleep=off` a halt jumps the clock to
//!   the next timer deadline, so only the guest-side part is a stable count):
//!   - `user_d3dkmt_query_adapter_info`: `D3DKMTQueryAdapterInfo` (ADAPTERTYPE), a query
//!     answered by the host: the syscall, the struct copies, the translator, the dxg task,
//!     the VMBus round trip and back;
//!   - `user_d3dkmt_enumerate_adapters`: `D3DKMTEnumAdapters2` (count, then the list),
//!     answered by the guest kernel from the adapters it opened;
//!   - `user_d3dkmt_create_destroy_device`: an object the host creates and destroys
//!     (`D3DKMTCreateDevice` + `D3DKMTDestroyDevice`: two round trips and the object table);
//!   - `user_d3dkmt_create_destroy_allocation`: an allocation with guest memory behind it
//!     (`D3DKMTCreateAllocation2` + `D3DKMTDestroyAllocation2`);
//!   - `user_d3dkmt_signal_from_cpu`: `D3DKMTSignalSynchronizationObjectFromCpu` on a
//!     monitored fence (a command the host executes).

use userlib::abi;
use userlib::gpu::{Adapter, AdapterList};
use userlib::println;
use userlib::sys::{CLOCK_HOST_CYCLES, Native, process};

use crate::raw_syscall;

const SAMPLES: usize = 2_000;
/// Samples of the other calls (each one a host round trip or two, a few milliseconds each).
const OBJECT_SAMPLES: usize = 500;
const WARM_UP: usize = 50;

fn read_tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter (the kernel leaves CR4.TSD clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The host's time so far (TSC cycles), as the kernel counts it.
fn host_cycles() -> u64 {
    process::time(&Native, CLOCK_HOST_CYCLES).unwrap_or(0)
}

fn report(name: &str, unit: &str, samples: &mut [u64]) {
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    let minimum = samples[0];
    let mean = samples.iter().sum::<u64>() / samples.len() as u64;
    println!(
        "bench {name}: median {median} {unit}, mean {mean} {unit}, min {minimum} {unit} ({} iterations, from ring 3)",
        samples.len()
    );
}

/// Runs `call` `count` + warm-up times; reports the whole call as `name` and the guest-side
/// part as `name_guest`. Returns false (after printing why) if a call failed.
fn measure_host_call(
    name: &str,
    unit: &str,
    count: usize,
    mut call: impl FnMut() -> Result<(), userlib::gpu::D3dkmtError>,
) -> bool {
    let mut whole = [0u64; SAMPLES];
    let mut guest = [0u64; SAMPLES];
    for index in 0..count + WARM_UP {
        let host_before = host_cycles();
        let start = read_tsc();
        let result = call();
        let cycles = read_tsc() - start;
        let host = host_cycles().saturating_sub(host_before);
        if let Err(error) = result {
            println!("bench {name}: FAILED ({error:?})");
            return false;
        }
        if index >= WARM_UP {
            whole[index - WARM_UP] = cycles;
            guest[index - WARM_UP] = cycles.saturating_sub(host);
        }
    }
    report(name, unit, &mut whole[..count]);
    let mut guest_name = [0u8; 64];
    let length = name.len().min(guest_name.len() - 6);
    guest_name[..length].copy_from_slice(&name.as_bytes()[..length]);
    guest_name[length..length + 6].copy_from_slice(b"_guest");
    let guest_name = core::str::from_utf8(&guest_name[..length + 6]).unwrap_or("guest");
    report(guest_name, unit, &mut guest[..count]);
    true
}

/// Runs the benchmarks; returns 0, or 1 if a call failed. `argument` is the process
/// argument (bit 8: the TSC counts instructions).
pub fn run(argument: u64) -> i32 {
    let unit = if argument & 0x100 != 0 {
        "instructions"
    } else {
        "cycles"
    };
    let override_count = ((argument >> 16) & 0xffff) as usize;
    let count = |default: usize| {
        if override_count == 0 {
            default
        } else {
            override_count.min(SAMPLES)
        }
    };
    let mut samples = [0u64; SAMPLES];
    for index in 0..SAMPLES + WARM_UP {
        let start = read_tsc();
        raw_syscall(0x7777, 0, 0, 0);
        let cycles = read_tsc() - start;
        if index >= WARM_UP {
            samples[index - WARM_UP] = cycles;
        }
    }
    report("user_syscall", unit, &mut samples);

    let Ok(mut adapters) = Adapter::enumerate(&Native) else {
        println!("bench user_d3dkmt_query_adapter_info: FAILED (no adapters)");
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        println!("bench user_d3dkmt_query_adapter_info: FAILED (no adapter)");
        return 1;
    };
    let mut data = [0u8; 4];
    let mut passed = measure_host_call(
        "user_d3dkmt_query_adapter_info",
        unit,
        count(SAMPLES),
        || adapter.query_info(abi::flags::KMTQAITYPE_ADAPTERTYPE, &mut data),
    );
    passed &= measure_host_call(
        "user_d3dkmt_enumerate_adapters",
        unit,
        count(OBJECT_SAMPLES),
        || {
            // Dropping the list closes the adapters it opened.
            Adapter::enumerate(&Native).map(|list: AdapterList<'_, Native>| drop(list))
        },
    );
    passed &= measure_host_call(
        "user_d3dkmt_create_destroy_device",
        unit,
        count(OBJECT_SAMPLES),
        || adapter.create_device().map(drop),
    );
    match adapter.create_device() {
        Ok(device) => {
            passed &= measure_host_call(
                "user_d3dkmt_create_destroy_allocation",
                unit,
                count(OBJECT_SAMPLES),
                || device.create_allocation(4096).map(drop),
            );
            match device.create_sync_object() {
                Ok(fence) => {
                    let mut value = 0;
                    passed &= measure_host_call(
                        "user_d3dkmt_signal_from_cpu",
                        unit,
                        count(OBJECT_SAMPLES),
                        || {
                            value += 1;
                            fence.signal_cpu(value)
                        },
                    );
                }
                Err(error) => {
                    println!("bench user_d3dkmt_signal_from_cpu: FAILED ({error:?})");
                    passed = false;
                }
            }
        }
        Err(error) => {
            println!("bench user_d3dkmt_create_destroy_allocation: FAILED ({error:?})");
            passed = false;
        }
    }
    if passed { 0 } else { 1 }
}
