//! Benchmarks (`mode=bench`): printed as `bench <name>: ...` lines on COM1, then QEMU exits
//! with success. Numbers are reported, never asserted.

use alloc::vec::Vec;

use crate::arch::cpu::read_tsc;
use crate::ipc::channel;
use crate::{clock, qemu, serial, task};

/// Round trips measured by [`channel_round_trip`].
pub const ROUND_TRIPS: usize = 10_000;

/// Runs every benchmark and exits QEMU.
pub fn run() -> ! {
    channel_round_trip();
    user_d3dkmt_round_trip();
    qemu::exit_success()
}

/// Ping-pong of a `u64` between two kernel tasks over two capacity-1 channels; each sample is
/// one send plus the matching reply, including two context switches.
pub fn channel_round_trip() {
    let (ping_sender, ping_receiver) = channel::<u64>(1);
    let (pong_sender, pong_receiver) = channel::<u64>(1);
    let echo = task::spawn("bench echo", move || {
        while let Ok(value) = ping_receiver.recv() {
            if pong_sender.send(value).is_err() {
                break;
            }
        }
    });
    let measure = task::spawn("bench ping", move || {
        let mut samples = Vec::with_capacity(ROUND_TRIPS);
        for iteration in 0..(ROUND_TRIPS + 100) as u64 {
            let start = read_tsc();
            let sent = ping_sender.send(iteration);
            let received = pong_receiver.recv();
            let cycles = read_tsc() - start;
            if sent.is_err() || received != Ok(iteration) {
                return None;
            }
            // The first 100 round trips warm up caches and the allocator.
            if iteration >= 100 {
                samples.push(cycles);
            }
        }
        Some(samples)
    });
    let samples = measure.join().ok().flatten();
    let _ = echo.join();
    let Some(mut samples) = samples else {
        serial::write_str("bench channel_round_trip: FAILED (channel error)\n");
        return;
    };
    samples.sort_unstable();
    let count = samples.len() as u64;
    let minimum = samples[0];
    let median = samples[samples.len() / 2];
    let mean = samples.iter().sum::<u64>() / count;
    serial::write_fmt(format_args!(
        "bench channel_round_trip: median {median} cycles, mean {mean} cycles ({count} iterations)\n\
         bench channel_round_trip detail: min {minimum} cycles, median {} ns, TSC {} Hz\n",
        clock::cycles_to_nanoseconds(median),
        clock::tsc_frequency()
    ));
}

/// The user → kernel → host path: `apps/selftest` mode 9 measures a bare syscall and
/// `D3DKMTQueryAdapterInfo` from ring 3 (it prints its own `bench` lines).
pub fn user_d3dkmt_round_trip() {
    let stack = match crate::services::GpuStack::start(5_000) {
        Ok(stack) => stack,
        Err(error) => {
            serial::write_fmt(format_args!("bench user_d3dkmt: skipped ({error})\n"));
            return;
        }
    };
    let gateway = alloc::boxed::Box::new(crate::services::gpu_gateway::DxgGateway::new(
        stack.gpu.clone(),
        "selftest-bench",
    ));
    match crate::process::Builder::new("selftest-bench", crate::process::images::SELFTEST)
        .argument(9)
        .spawn(gateway)
    {
        Ok(process) => {
            let exit = process.join();
            if exit != crate::process::ProcessExit::Exited(0) {
                serial::write_fmt(format_args!("bench user_d3dkmt: FAILED ({exit:?})\n"));
            }
        }
        Err(error) => serial::write_fmt(format_args!("bench user_d3dkmt: FAILED ({error:?})\n")),
    }
    if let Err(error) = stack.shut_down() {
        serial::write_fmt(format_args!(
            "bench user_d3dkmt: shutdown failed ({error})\n"
        ));
    }
}
