//! Benches that involve the host or its data structures: the GPU stack's boot phases, the
//! ring-3 D3DKMT calls, and the VMBus ring inside the guest.

use alloc::vec::Vec;

use vmbus::ring::{OutgoingPacket, RingPages, RingReceiver, RingSender, initialize_control_page};

use super::{Unit, report};
use crate::diagnostics::Stage;
use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::{clock, host_time, serial};

/// Starts the GPU stack (recording its boot phases), prints the boot phases, runs the ring-3
/// D3DKMT benches (`apps/selftest` mode 9) and shuts the stack down.
/// `samples`: the app's sample count (0: its defaults).
pub fn gpu_stack(unit: Unit, boot_points: &[(&'static str, u64)], samples: u64) {
    let started_at = crate::arch::cpu::read_tsc();
    let started_host = host_time::cycles();
    let stack = match crate::services::GpuStack::start(5_000) {
        Ok(stack) => stack,
        Err(error) => {
            serial::write_fmt(format_args!("bench user_d3dkmt: skipped ({error})\n"));
            return;
        }
    };
    boot_phases(unit, boot_points, (started_at, started_host));
    let gateway = alloc::boxed::Box::new(crate::services::gpu_gateway::DxgGateway::new(
        stack.gpu.clone(),
        "selftest-bench",
    ));
    // Mode 9; bit 8 tells the app that the TSC counts instructions, bits 16–31 a sample count
    // replacing its own (`bench-samples=`, for a short traced run).
    let argument =
        9 | if unit == Unit::Instructions { 0x100 } else { 0 } | (samples.min(0xffff) << 16);
    match crate::process::Builder::new("selftest-bench", crate::process::images::SELFTEST)
        .argument(argument)
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

/// `bench boot_phase_<name>: <guest> <unit> guest-side, <host> host` for each phase from the
/// kernel's entry to the first dxg adapter Active (the GPU stack's `gpupv-check` stage starts
/// when it is), and `bench boot_to_adapter_active` for the sum. The host's part (halts while
/// waiting for it, the hypervisor interface) is subtracted; before the GPU stack starts
/// nothing talks to a host, so the kernel's own phases have none.
fn boot_phases(unit: Unit, boot_points: &[(&'static str, u64)], stack_start: (u64, u64)) {
    let mut points: Vec<(&'static str, u64, u64)> = boot_points
        .iter()
        .map(|&(name, tsc)| (name, tsc, 0))
        .collect();
    points.push(("gpu_stack_start", stack_start.0, stack_start.1));
    for stage in Stage::ALL {
        if stage <= Stage::Acpi {
            continue;
        }
        if let Some((tsc, host)) = host_time::stage_mark(stage as usize) {
            points.push((point_name(stage), tsc, host));
        }
    }
    let Some(&(_, entry_tsc, _)) = points.first() else {
        return;
    };
    let reached_active = host_time::stage_mark(Stage::GpupvCheck as usize).is_some();
    let unit = unit.name();
    let mut guest_total = 0;
    let mut host_total = 0;
    for pair in points.windows(2) {
        let (from, from_tsc, from_host) = pair[0];
        let (to, to_tsc, to_host) = pair[1];
        let host = to_host.saturating_sub(from_host);
        let guest = to_tsc.saturating_sub(from_tsc).saturating_sub(host);
        guest_total += guest;
        host_total += host;
        serial::write_fmt(format_args!(
            "bench boot_phase_{from}_to_{to}: {guest} {unit} guest-side, {host} {unit} host\n"
        ));
    }
    let whole = points
        .last()
        .map_or(0, |&(_, tsc, _)| tsc.saturating_sub(entry_tsc));
    serial::write_fmt(format_args!(
        "bench boot_to_adapter_active: {guest_total} {unit} guest-side, {host_total} {unit} host, \
         {} ms in all{}\n",
        clock::cycles_to_nanoseconds(whole) / 1_000_000,
        if reached_active {
            ""
        } else {
            " (the adapter did not become Active)"
        }
    ));
}

/// The boot point at which `stage` was first entered, as a bench name.
fn point_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Firmware | Stage::Acpi | Stage::Hypervisor => "hypervisor_detect",
        Stage::Synic => "synic",
        Stage::Vmbus => "vmbus_version",
        Stage::Offers => "offers",
        Stage::VpciD0 => "vpci",
        Stage::DxgIoSpace => "dxg_io_space",
        Stage::AdapterActive => "adapter_starting",
        // The stage after the adapter reported Active.
        Stage::GpupvCheck => "adapter_active",
    }
}

/// Data area of the in-guest ring (plus one control page).
const RING_DATA_BYTES: u64 = 128 * 1024;
/// Packets per sample of [`guest_ring`].
const RING_BATCH: usize = 16;
/// Samples of [`guest_ring`] per size.
const RING_SAMPLES: usize = 1_000;

/// `guest_ring_<size>`: the VMBus ring (the dxg and bus channels' code) over the guest's own
/// pages through `PhysicalMemory`, on one task: [`RING_BATCH`] packets written, one commit,
/// all read back, one commit; reported per packet. No host and no signal: the ring's own cost.
pub fn guest_ring(unit: Unit) {
    let Some(memory) = PhysicalMemory::of_this_guest() else {
        serial::write_str("bench guest_ring: skipped (no memory map)\n");
        return;
    };
    let page_count = (RING_DATA_BYTES / 4096 + 1) as usize;
    let Ok(pages) = crate::memory::ContiguousPages::allocate_zeroed(page_count) else {
        serial::write_str("bench guest_ring: skipped (no pages)\n");
        return;
    };
    let base = pages.physical_address().as_u64();
    for size in [64usize, 1024, 4096] {
        let name = match size {
            64 => "guest_ring_64_bytes",
            1024 => "guest_ring_1024_bytes",
            _ => "guest_ring_4096_bytes",
        };
        match ring_samples(&memory, base, size) {
            Some(mut samples) => report(name, unit, &mut samples),
            None => serial::write_fmt(format_args!("bench {name}: FAILED (ring error)\n")),
        }
    }
    drop(pages);
}

/// Per-packet samples of one size (see [`guest_ring`]); `None` on a ring error.
fn ring_samples(memory: &PhysicalMemory, base: u64, size: usize) -> Option<Vec<u64>> {
    let ring_pages = RingPages::contiguous(base, RING_DATA_BYTES + 4096).ok()?;
    initialize_control_page(memory, &ring_pages, 0).ok()?;
    let mut sender = RingSender::new(memory, ring_pages.clone()).ok()?;
    let mut receiver = RingReceiver::new(memory, ring_pages).ok()?;
    let payload = alloc::vec![0x5au8; size];
    let mut buffer = Vec::with_capacity(size + 64);
    let mut id = 0u64;
    super::sample(RING_SAMPLES, 10, || {
        for _ in 0..RING_BATCH {
            id += 1;
            if sender
                .write_packet(&OutgoingPacket::in_band(id, false, &payload))
                .is_err()
            {
                return false;
            }
        }
        if sender.commit().is_err() {
            return false;
        }
        let mut read = 0;
        while let Ok(Some(_)) = receiver.read_packet(&mut buffer) {
            read += 1;
        }
        read == RING_BATCH && receiver.commit().is_ok()
    })
    .map(|samples| {
        samples
            .into_iter()
            .map(|cycles| cycles / RING_BATCH as u64)
            .collect()
    })
}
