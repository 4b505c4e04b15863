//! Round trip of a cheap command (QUERYADAPTERINFO) in-process, three ways, in one run:
//!
//! 1. bare ring ping-pong: a guest→host in-band packet of the same size and a completion of
//!    the reply's size through two `vmbus::ring`s (no SynIC, no protocol);
//! 2. dxg core ↔ GPU-PV host directly (`emulator::vgpu::loopback`, no VMBus);
//! 3. the whole stack: dxg core → ring → HvSignalEvent → VMBus server → GpuHost → completion
//!    ring → event flag → SynIC interrupt → bus driver → dxg core.
//!
//! Prints a table; asserts nothing about speed. Run:
//! `cargo bench -p emulator --bench dxg_over_vmbus`.

#[path = "../tests/support/guest_stack.rs"]
mod guest_stack;
#[path = "../tests/support/vpci_guest.rs"]
#[allow(dead_code)]
mod vpci_guest;

use dxg::core::{Action, ProcessId, Reply, Request};
use dxg::wire::{D3dkmtHandle, QUERY_ADAPTER_TYPE_RENDER};
use emulator::vgpu::VgpuDescription;
use guest_stack::Stack;
use hyperv::memory::AtomicMemory;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmbus::ring::{ChannelRings, OutgoingPacket};

const PROCESS: ProcessId = ProcessId(1);

fn query(adapter: D3dkmtHandle) -> Request {
    Request::QueryAdapterInfo {
        adapter,
        query_type: QUERY_ADAPTER_TYPE_RENDER,
        data: vec![0; 4],
    }
}

fn adapter_of(reply: Result<Reply, dxg::wire::NtStatus>) -> D3dkmtHandle {
    match reply {
        Ok(Reply::Adapters(list)) => list[0].handle,
        other => panic!("{other:?}"),
    }
}

/// Runs `operation` for about `budget` (after a warm-up), returns ns per operation.
fn measure(budget: Duration, mut operation: impl FnMut()) -> (f64, u64) {
    for _ in 0..1000 {
        operation();
    }
    let mut iterations = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..256 {
            operation();
        }
        iterations += 256;
    }
    (
        start.elapsed().as_nanos() as f64 / iterations as f64,
        iterations,
    )
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MILLIS")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(1500),
    );

    // The whole stack; first learn the request and reply sizes.
    let mut stack = Stack::new(1);
    stack
        .call(
            PROCESS,
            Request::CreateProcess {
                pid: 1,
                name: "bench".into(),
            },
        )
        .unwrap();
    let adapter = adapter_of(stack.call(PROCESS, Request::EnumAdapters));
    let ticket = stack.driver.submit(PROCESS, query(adapter));
    let request_bytes = match stack.driver.poll_action() {
        Some(Action::Send(packet)) => {
            let length = packet.bytes.len();
            stack.on_action(Action::Send(packet));
            length
        }
        other => panic!("{other:?}"),
    };
    stack.pump();
    let reply_bytes = match stack.completions.remove(&ticket) {
        Some(Ok(Reply::AdapterInfo(data))) => data.len() + 4, // status + data (version ≥ 40)
        other => panic!("{other:?}"),
    };
    let (full, full_iterations) = measure(budget, || {
        black_box(stack.call(PROCESS, query(adapter)).unwrap());
    });

    // dxg core ↔ GpuHost, no VMBus.
    let mut direct =
        emulator::vgpu::loopback::Loopback::new(vec![VgpuDescription::new(0x10, 0x11)], 16);
    direct
        .call(
            PROCESS,
            Request::CreateProcess {
                pid: 1,
                name: "bench".into(),
            },
        )
        .unwrap();
    let direct_adapter = adapter_of(direct.call(PROCESS, Request::EnumAdapters));
    let (core, core_iterations) = measure(budget, || {
        black_box(direct.call(PROCESS, query(direct_adapter)).unwrap());
    });

    // Bare rings of the dxg size (256 KiB each way), same packet sizes.
    let memory = Arc::new(AtomicMemory::new(0, 2 << 20));
    let ring_pages = 65u64;
    let pfns: Vec<u64> = (1..=2 * ring_pages).collect();
    let mut guest =
        ChannelRings::initialize_for_guest(memory.clone(), &pfns, ring_pages as u32).unwrap();
    let mut host = ChannelRings::attach_for_host(memory, &pfns, ring_pages as u32).unwrap();
    let request = vec![0x5Au8; request_bytes];
    let reply = vec![0xA5u8; reply_bytes];
    let mut host_buffer = Vec::new();
    let mut guest_buffer = Vec::new();
    let mut transaction = 0u64;
    let (bare, bare_iterations) = measure(budget, || {
        transaction += 1;
        guest
            .sender
            .send(&OutgoingPacket::in_band(transaction, true, &request))
            .unwrap();
        let packet = host
            .receiver
            .read_packet(&mut host_buffer)
            .unwrap()
            .unwrap();
        host.receiver.commit().unwrap();
        host.sender
            .send(&OutgoingPacket::completion(packet.transaction_id, &reply))
            .unwrap();
        let answer = guest
            .receiver
            .read_packet(&mut guest_buffer)
            .unwrap()
            .unwrap();
        guest.receiver.commit().unwrap();
        black_box(answer.transaction_id);
    });

    println!();
    println!(
        "QUERYADAPTERINFO round trip (request {request_bytes} B, reply {reply_bytes} B), {} ms per row",
        budget.as_millis()
    );
    println!("| path | ns/op | ops/s | iterations |");
    println!("|---|---:|---:|---:|");
    for (name, nanos, iterations) in [
        (
            "bare ring ping-pong (same sizes, no signalling)",
            bare,
            bare_iterations,
        ),
        ("dxg core <-> GpuHost, no VMBus", core, core_iterations),
        (
            "dxg core -> VMBus rings + SynIC loopback -> GpuHost -> back",
            full,
            full_iterations,
        ),
    ] {
        println!(
            "| {name} | {nanos:.0} | {:.0} | {iterations} |",
            1e9 / nanos
        );
    }
}
