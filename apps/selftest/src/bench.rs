//! Mode 9: benchmarks of the user → kernel path, printed as `bench ...` lines (numbers are
//! reported, never asserted; `cargo run -- bench` runs them):
//!
//! - `user_syscall`: an unknown syscall number (entry, dispatch, `STATUS_INVALID_SYSTEM_SERVICE`,
//!   exit): the bare cost of crossing into the kernel and back;
//! - `user_d3dkmt_query_adapter_info`: `D3DKMTQueryAdapterInfo` (ADAPTERTYPE) from ring 3: the
//!   syscall, the struct copies, the translator, the dxg task, the VMBus round trip to the host
//!   and back.

use userlib::abi;
use userlib::gpu::Adapter;
use userlib::println;
use userlib::sys::Native;

use crate::raw_syscall;

const SAMPLES: usize = 2_000;
const WARM_UP: usize = 50;

fn read_tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter (the kernel leaves CR4.TSD clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn report(name: &str, samples: &mut [u64]) {
    samples.sort_unstable();
    let median = samples[samples.len() / 2];
    let minimum = samples[0];
    let mean = samples.iter().sum::<u64>() / samples.len() as u64;
    println!(
        "bench {name}: median {median} cycles, mean {mean} cycles, min {minimum} cycles ({} iterations, from ring 3)",
        samples.len()
    );
}

/// Runs the benchmarks; returns 0, or 1 if a call failed.
pub fn run() -> i32 {
    let mut samples = [0u64; SAMPLES];
    for index in 0..SAMPLES + WARM_UP {
        let start = read_tsc();
        raw_syscall(0x7777, 0, 0, 0);
        let cycles = read_tsc() - start;
        if index >= WARM_UP {
            samples[index - WARM_UP] = cycles;
        }
    }
    report("user_syscall", &mut samples);

    let Ok(mut adapters) = Adapter::enumerate(&Native) else {
        println!("bench user_d3dkmt_query_adapter_info: FAILED (no adapters)");
        return 1;
    };
    let Some(adapter) = adapters.take(0) else {
        println!("bench user_d3dkmt_query_adapter_info: FAILED (no adapter)");
        return 1;
    };
    let mut data = [0u8; 4];
    for index in 0..SAMPLES + WARM_UP {
        let start = read_tsc();
        let result = adapter.query_info(abi::flags::KMTQAITYPE_ADAPTERTYPE, &mut data);
        let cycles = read_tsc() - start;
        if result.is_err() {
            println!("bench user_d3dkmt_query_adapter_info: FAILED ({result:?})");
            return 1;
        }
        if index >= WARM_UP {
            samples[index - WARM_UP] = cycles;
        }
    }
    report("user_d3dkmt_query_adapter_info", &mut samples);
    0
}
