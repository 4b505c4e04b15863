//! Ring throughput. Columns, all moving the same bytes in chunks of the packet size:
//! 1. the VMBus ring (`RingSender`/`RingReceiver`, 256 KiB data area) over `AtomicMemory`,
//!    two threads;
//! 2. `rtrb`'s SPSC ring of 256 KiB bytes, two threads;
//! 3. plain memcpy through a 256 KiB buffer, one thread;
//! 4. AtomicMemory's write+read copies alone, one thread (column 1 does this work on two
//!    threads, so it can reach about twice this).
//!
//! Run: `cargo bench -p vmbus --bench ring`. Prints a table; no assertions.

use hyperv::memory::{AtomicMemory, GuestMemory};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmbus::ring::{
    DEFAULT_RING_DATA_SIZE, OutgoingPacket, RingError, RingPages, RingReceiver, RingSender,
    initialize_control_page,
};

const SIZES: [usize; 6] = [64, 256, 1024, 4096, 16 * 1024, 64 * 1024];
const TOTAL_BYTES: usize = 32 << 20;
/// Each cell is the best of this many runs (the machine may be shared).
const RUNS: usize = 3;
const RING_BYTES: usize = DEFAULT_RING_DATA_SIZE as usize;

struct Result {
    elapsed: Duration,
    bytes: usize,
    packets: usize,
}

impl Result {
    fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / 1e6
    }
    fn packets_per_second(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64()
    }
}

fn vmbus_ring(size: usize) -> Result {
    let total = RING_BYTES as u64 + 4096;
    let memory = Arc::new(AtomicMemory::new(0, total as usize));
    let pages = RingPages::contiguous(0, total).unwrap();
    initialize_control_page(&memory, &pages, 0).unwrap();
    let mut sender = RingSender::new(memory.clone(), pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(memory.clone(), pages).unwrap();
    let packets = TOTAL_BYTES / size;
    let payload = vec![0x5Au8; size];
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        let mut signals = 0usize;
        for id in 0..packets {
            loop {
                match sender.write_packet(&OutgoingPacket::in_band(id as u64, false, &payload)) {
                    Ok(()) => break,
                    Err(RingError::Full { .. }) => {
                        // Publish what is written and retry; on an oversubscribed machine
                        // yielding beats spinning. (A real driver would wait_for_space and
                        // sleep until signalled.)
                        signals += usize::from(sender.commit().unwrap());
                        std::thread::yield_now();
                    }
                    Err(error) => panic!("{error}"),
                }
            }
            // Publish in batches of up to 16 KiB so small packets are not one commit each.
            if (id + 1) * size % (16 * 1024) < size {
                signals += usize::from(sender.commit().unwrap());
            }
        }
        signals += usize::from(sender.commit().unwrap());
        signals
    });
    let mut buffer = Vec::with_capacity(size + 64);
    let mut received = 0;
    let mut bytes = 0;
    while received < packets {
        let mut any = false;
        while let Some(packet) = receiver.read_packet(&mut buffer).unwrap() {
            bytes += packet.payload(&buffer).len();
            received += 1;
            any = true;
        }
        if any {
            receiver.commit().unwrap();
        } else {
            std::thread::yield_now();
        }
    }
    let elapsed = start.elapsed();
    producer.join().unwrap();
    Result {
        elapsed,
        bytes,
        packets,
    }
}

fn rtrb_ring(size: usize) -> Result {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<u8>::new(RING_BYTES);
    let packets = TOTAL_BYTES / size;
    let payload = vec![0x5Au8; size];
    let start = Instant::now();
    let thread = std::thread::spawn(move || {
        for _ in 0..packets {
            loop {
                if let Ok(mut chunk) = producer.write_chunk(size) {
                    let (first, second) = chunk.as_mut_slices();
                    first.copy_from_slice(&payload[..first.len()]);
                    second.copy_from_slice(&payload[first.len()..]);
                    chunk.commit_all();
                    break;
                }
                std::thread::yield_now();
            }
        }
    });
    let mut out = vec![0u8; size];
    let mut bytes = 0;
    for _ in 0..packets {
        loop {
            if let Ok(chunk) = consumer.read_chunk(size) {
                let (first, second) = chunk.as_slices();
                out[..first.len()].copy_from_slice(first);
                out[first.len()..].copy_from_slice(second);
                chunk.commit_all();
                bytes += size;
                break;
            }
            std::thread::yield_now();
        }
    }
    let elapsed = start.elapsed();
    thread.join().unwrap();
    std::hint::black_box(&out);
    Result {
        elapsed,
        bytes,
        packets,
    }
}

fn memcpy(size: usize) -> Result {
    let packets = TOTAL_BYTES / size;
    let source = vec![0x5Au8; size];
    let mut ring = vec![0u8; RING_BYTES];
    let mut out = vec![0u8; size];
    let start = Instant::now();
    let mut offset = 0;
    for _ in 0..packets {
        if offset + size > RING_BYTES {
            offset = 0;
        }
        ring[offset..offset + size].copy_from_slice(std::hint::black_box(&source));
        out.copy_from_slice(&ring[offset..offset + size]);
        std::hint::black_box(&out);
        offset += size;
    }
    Result {
        elapsed: start.elapsed(),
        bytes: packets * size,
        packets,
    }
}

fn atomic_memory_copies(size: usize) -> Result {
    let memory = AtomicMemory::new(0, RING_BYTES);
    let packets = TOTAL_BYTES / size;
    let source = vec![0x5Au8; size];
    let mut out = vec![0u8; size];
    let start = Instant::now();
    let mut offset = 0u64;
    for _ in 0..packets {
        if offset as usize + size > RING_BYTES {
            offset = 0;
        }
        memory.write(offset, &source).unwrap();
        memory.read(offset, &mut out).unwrap();
        offset += size as u64;
    }
    std::hint::black_box(&out);
    Result {
        elapsed: start.elapsed(),
        bytes: packets * size,
        packets,
    }
}

fn best(mut run: impl FnMut() -> Result) -> Result {
    (0..RUNS)
        .map(|_| run())
        .min_by_key(|result| result.elapsed)
        .unwrap()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn main() {
    println!("load average before: {}", load_average());
    let cores = std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1);
    println!(
        "ring benchmark: {} MiB per size, 256 KiB rings, {cores} CPU(s)",
        TOTAL_BYTES >> 20
    );
    println!(
        "{:>7} | {:>20} | {:>20} | {:>20} | {:>20}",
        "size", "vmbus ring (2 thr)", "rtrb (2 thr)", "memcpy (1 thr)", "AtomicMemory copy"
    );
    println!(
        "{:>7} | {:>20} | {:>20} | {:>20} | {:>20}",
        "", "MB/s  packets/s", "MB/s  packets/s", "MB/s  packets/s", "MB/s  packets/s"
    );
    let cell = |result: &Result| {
        format!(
            "{:>7.0} {:>12.0}",
            result.megabytes_per_second(),
            result.packets_per_second()
        )
    };
    for size in SIZES {
        let vmbus = best(|| vmbus_ring(size));
        let rtrb = best(|| rtrb_ring(size));
        let copy = best(|| memcpy(size));
        let atomic = best(|| atomic_memory_copies(size));
        println!(
            "{:>7} | {:>20} | {:>20} | {:>20} | {:>20}",
            size,
            cell(&vmbus),
            cell(&rtrb),
            cell(&copy),
            cell(&atomic)
        );
    }
    println!("load average after: {}", load_average());
    println!(
        "note: the vmbus ring reaches guest memory through AtomicMemory, whose copies are \
         per-word atomics; the last column is the same write+read copy work done serially on one \
         thread, so the two-thread ring can reach at most about twice it: AtomicMemory dominates \
         from 1 KiB up. The kernel's GuestMemory copies with plain memcpy into mapped RAM."
    );
}
