//! Our VMBus ring against OpenVMM's `vmbus_ring` (issue 15): both rings in one process, the
//! same packets, the same loops, columns interleaved.
//!
//! What it measures, for packet sizes of 64 B to 64 KiB, 256 MiB of payload per run (the same
//! for every column; `OPENVMM_BENCH_MIB` changes it):
//! 1. two threads (producer and consumer), wall time: our `RingSender`/`RingReceiver` over
//!    `hyperv::memory::AtomicMemory` (256 KiB data area) against OpenVMM's `OutgoingRing`/
//!    `IncomingRing` over its `FlatRingMem` (256 KiB data area). The loop is the two-thread
//!    column of `vmbus/benches/ring.rs`: packets go in runs of up to 16 KiB, each run
//!    published by one commit (ours: `RingSender::batch` → `reserve` → `write` → `finish`,
//!    then `commit`; OpenVMM: `OutgoingRing::write` → `RingRange::writer` → `write` per
//!    packet, then `commit_write`); the consumer drains what is there and commits once (ours:
//!    `peek` → `read_payload` → `release`, `commit`; OpenVMM: `IncomingRing::read` →
//!    `RingRange::reader` → `read`, `commit_read`). On a full ring the producer commits and
//!    yields; on an empty one the consumer yields. Each payload is copied into the ring once
//!    and out of it once, on both rings;
//! 2. one thread, CPU time of the thread (`/proc/thread-self/schedstat`, as ring.rs): write up
//!    to 16 KiB of packets, commit, read them all back, commit; the rings' own cost, free of
//!    scheduling (on two CPUs shared with other work the two-thread column mostly measures
//!    the scheduler);
//! 3. for reference, OpenVMM's ring on one thread over its `PagedRingMem` (the page-by-page
//!    memory of its host side) backed by page-aligned memory through this harness's own
//!    `PagedMemory`.
//!
//! Both rings start in the same signalling state (interrupts unmasked, the pending-send-size
//! feature on, no pending send size), so each commit does the same signalling work; the
//! signals are counted and not delivered. Each cell is the median of [`RUNS`] runs (the order
//! of the two rings alternates from run to run); the ratio is ours ÷ OpenVMM's of the
//! medians, with the range of the per-run (paired) ratios beside it. The last column is the
//! CPU time other processes took while the row was measured, in CPUs: on a two-CPU machine
//! anything else running takes a CPU from one of the two threads, and the two-thread figures
//! then say more about the scheduler than about the rings.
//!
//! Correctness: before timing, every column runs once comparing every payload byte with what
//! was sent (each packet numbered in its first 8 bytes); in the timed runs every packet's
//! length and first and last 8 bytes are checked against one of four random patterns in
//! sequence, and the byte and packet counts at the end. A ring that loses, reorders or
//! misplaces packets stops the bench. These checks cost both rings the same few nanoseconds a
//! packet (so at 64 B this harness's figures are lower than ring.rs's, and its ratios a little
//! closer to 1 than the rings' own costs alone would give).
//!
//! Not a workspace member, and not built by `cargo test`: OpenVMM's crates are not on
//! crates.io. Run `scripts/openvmm_ring_bench.sh OPENVMM_DIR`, where OPENVMM_DIR is a clone
//! of microsoft/openvmm; the script writes a manifest for this file into
//! `target/openvmm-ring-bench/` and runs it. `OPENVMM_BENCH_SIZES=64,1024` limits the sizes,
//! `OPENVMM_BENCH_RUNS` sets the runs per cell, `OPENVMM_BENCH_MIB` the payload per run, and
//! `OPENVMM_BENCH_PROFILE=ours|openvmm|paged` runs only that one-thread column (50 times at
//! the first size), for `perf record` or `valgrind --tool=callgrind`.

use guestmem::{MemoryRead, MemoryWrite};
use hyperv::memory::AtomicMemory;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::{Duration, Instant};
use vmbus::ring::{
    FEATURE_PENDING_SEND_SIZE, PacketHeader, RingError, RingPages, RingReceiver, RingSender,
    initialize_control_page,
};
use vmbus_ring::{
    FlatRingMem, IncomingRing, OutgoingPacket, OutgoingPacketType, OutgoingRing, PAGE_SIZE,
    PagedMemory, PagedRingMem, ReadError, RingMem, WriteError,
};

const SIZES: [usize; 6] = [64, 256, 1024, 4096, 16 * 1024, 64 * 1024];
/// Payload bytes per run, unless `OPENVMM_BENCH_MIB` says otherwise: eight times ring.rs's
/// 32 MiB, so that a two-thread run lasts long enough (tenths of a second) for the scheduler's
/// whims to average out.
const DEFAULT_TOTAL_BYTES: usize = 256 << 20;
/// Payload bytes per run (the same for every column).
fn total_bytes() -> usize {
    static TOTAL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *TOTAL.get_or_init(|| {
        std::env::var("OPENVMM_BENCH_MIB")
            .ok()
            .and_then(|mib| mib.parse::<usize>().ok())
            .map_or(DEFAULT_TOTAL_BYTES, |mib| mib << 20)
    })
}

/// Each cell is the median of this many runs (the machine may be shared).
const RUNS: usize = 7;
/// The data area of every ring (our `DEFAULT_RING_DATA_SIZE`).
const RING_BYTES: usize = 256 * 1024;
/// Packets are written in runs of up to this many bytes, one commit per run.
const BATCH_BYTES: usize = 16 * 1024;
/// Payloads cycle through this many random patterns.
const PATTERNS: usize = 4;

/// One timed run.
#[derive(Clone, Copy)]
struct Run {
    elapsed: Duration,
    bytes: usize,
    packets: usize,
    /// Signals the producer's and the consumer's commits asked for.
    signals: (usize, usize),
}

impl Run {
    fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / 1e6
    }

    fn nanoseconds_per_packet(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e9 / self.packets as f64
    }
}

/// The payloads of one packet size: [`PATTERNS`] buffers of random bytes, used in turn.
struct Payloads {
    patterns: Vec<Vec<u8>>,
}

impl Payloads {
    fn new(size: usize) -> Self {
        assert!(size >= 16 && size.is_multiple_of(8));
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ size as u64;
        let patterns = (0..PATTERNS)
            .map(|index| {
                let mut pattern: Vec<u8> = (0..size)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state >> 24) as u8
                    })
                    .collect();
                // Distinct first words, so the cheap check tells the patterns apart.
                pattern[..8].copy_from_slice(&(0xA5A5_0000_0000_0000 | index as u64).to_le_bytes());
                pattern
            })
            .collect();
        Payloads { patterns }
    }

    fn pattern(&self, packet: usize) -> &[u8] {
        &self.patterns[packet % PATTERNS]
    }

    /// The payload of packet number `packet`: its pattern, or with `FULL` its pattern with
    /// the packet number in the first 8 bytes (laid out in `scratch`).
    #[inline]
    fn source<'a, const FULL: bool>(&'a self, packet: usize, scratch: &'a mut [u8]) -> &'a [u8] {
        if FULL {
            scratch.copy_from_slice(self.pattern(packet));
            scratch[..8].copy_from_slice(&(packet as u64).to_le_bytes());
            scratch
        } else {
            self.pattern(packet)
        }
    }

    /// Checks the payload received as packet number `packet`: every byte with `FULL`, else its
    /// first and last 8 bytes.
    #[inline]
    fn check<const FULL: bool>(&self, packet: usize, received: &[u8], scratch: &mut [u8]) {
        if FULL {
            let expected = self.source::<true>(packet, scratch);
            assert!(received == expected, "packet {packet}: payload differs");
        } else {
            let expected = self.pattern(packet);
            let end = expected.len() - 8;
            assert!(
                received.len() == expected.len()
                    && received[..8] == expected[..8]
                    && received[end..] == expected[end..],
                "packet {packet}: payload differs"
            );
        }
    }
}

/// Checks a run's totals.
fn checked(run: Run, size: usize) -> Run {
    let packets = total_bytes() / size;
    assert_eq!((run.packets, run.bytes), (packets, packets * size));
    run
}

/// Our ring over `AtomicMemory`, two threads: the two-thread column of ring.rs.
fn ours_two_threads<const FULL: bool>(size: usize) -> Run {
    let total = RING_BYTES as u64 + 4096;
    let memory = Arc::new(AtomicMemory::new(0, total as usize));
    let pages = RingPages::contiguous(0, total).unwrap();
    initialize_control_page(&memory, &pages, FEATURE_PENDING_SEND_SIZE).unwrap();
    let mut sender = RingSender::new(memory.clone(), pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(memory.clone(), pages).unwrap();
    let packets = total_bytes() / size;
    let payloads = Arc::new(Payloads::new(size));
    let sent = payloads.clone();
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        let mut scratch = vec![0u8; size];
        let mut signals = 0usize;
        let per_batch = (BATCH_BYTES / size).max(1);
        let mut id = 0;
        while id < packets {
            let end = (id + per_batch).min(packets);
            let mut full = false;
            let mut batch = sender.batch();
            while id < end {
                match batch.reserve(&PacketHeader::in_band(id as u64, false), size) {
                    Ok(mut packet) => {
                        packet
                            .write(0, sent.source::<FULL>(id, &mut scratch))
                            .unwrap();
                        packet.finish().unwrap();
                        id += 1;
                    }
                    Err(RingError::Full { .. }) => {
                        full = true;
                        break;
                    }
                    Err(error) => panic!("{error}"),
                }
            }
            signals += usize::from(sender.commit().unwrap());
            if full {
                std::thread::yield_now();
            }
        }
        signals += usize::from(sender.commit().unwrap());
        signals
    });
    let mut out = vec![0u8; size];
    let mut scratch = vec![0u8; size];
    let (mut received, mut bytes, mut signals) = (0, 0, 0);
    while received < packets {
        let mut any = false;
        while let Some(packet) = receiver.peek().unwrap() {
            assert_eq!(packet.payload_len(), size);
            packet.read_payload(0, &mut out).unwrap();
            packet.release().unwrap();
            payloads.check::<FULL>(received, std::hint::black_box(&out), &mut scratch);
            bytes += out.len();
            received += 1;
            any = true;
        }
        if any {
            signals += usize::from(receiver.commit().unwrap());
        } else {
            std::thread::yield_now();
        }
    }
    let elapsed = start.elapsed();
    let producer_signals = producer.join().unwrap();
    checked(
        Run {
            elapsed,
            bytes,
            packets: received,
            signals: (producer_signals, signals),
        },
        size,
    )
}

/// OpenVMM's ring over its `FlatRingMem`, two threads, in the same loop.
fn openvmm_two_threads<const FULL: bool>(size: usize) -> Run {
    let memory = FlatRingMem::new(RING_BYTES);
    let in_ring = IncomingRing::new(memory.clone()).unwrap();
    // `IncomingRing::new` masks interrupts; unmask them, as ours are.
    in_ring.set_interrupt_mask(false);
    let out_ring = OutgoingRing::new(memory).unwrap();
    let packets = total_bytes() / size;
    let payloads = Arc::new(Payloads::new(size));
    let sent = payloads.clone();
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        let mut scratch = vec![0u8; size];
        let mut outgoing = out_ring.outgoing().unwrap();
        let mut signals = 0usize;
        let per_batch = (BATCH_BYTES / size).max(1);
        let mut id = 0;
        while id < packets {
            let end = (id + per_batch).min(packets);
            let mut full = false;
            while id < end {
                let packet = OutgoingPacket {
                    transaction_id: id as u64,
                    size,
                    typ: OutgoingPacketType::InBandNoCompletion,
                };
                match out_ring.write(&mut outgoing, &packet) {
                    Ok(range) => {
                        range
                            .writer(&out_ring)
                            .write(sent.source::<FULL>(id, &mut scratch))
                            .unwrap();
                        id += 1;
                    }
                    Err(WriteError::Full(_)) => {
                        full = true;
                        break;
                    }
                    Err(error) => panic!("{error}"),
                }
            }
            signals += usize::from(out_ring.commit_write(&mut outgoing));
            if full {
                std::thread::yield_now();
            }
        }
        signals += usize::from(out_ring.commit_write(&mut outgoing));
        signals
    });
    let mut out = vec![0u8; size];
    let mut scratch = vec![0u8; size];
    let mut incoming = in_ring.incoming().unwrap();
    let (mut received, mut bytes, mut signals) = (0, 0, 0);
    while received < packets {
        let mut any = false;
        loop {
            match in_ring.read(&mut incoming) {
                Ok(packet) => {
                    assert_eq!(packet.payload.len(), size);
                    packet.payload.reader(&in_ring).read(&mut out).unwrap();
                    payloads.check::<FULL>(received, std::hint::black_box(&out), &mut scratch);
                    bytes += out.len();
                    received += 1;
                    any = true;
                }
                Err(ReadError::Empty) => break,
                Err(error) => panic!("{error}"),
            }
        }
        if any {
            signals += usize::from(in_ring.commit_read(&mut incoming));
        } else {
            std::thread::yield_now();
        }
    }
    let elapsed = start.elapsed();
    let producer_signals = producer.join().unwrap();
    checked(
        Run {
            elapsed,
            bytes,
            packets: received,
            signals: (producer_signals, signals),
        },
        size,
    )
}

/// This thread's time on a CPU so far: the first field of `/proc/thread-self/schedstat`, in
/// ns, or `None` where that file does not exist. Linux brings that sum up to date when the
/// thread passes through the scheduler, so the thread yields first.
fn thread_cpu_time() -> Option<Duration> {
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanoseconds))
}

/// Times `work` by this thread's CPU time (wall time where that is unavailable).
fn on_cpu(work: impl FnOnce() -> (usize, usize, (usize, usize))) -> Run {
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    let (bytes, packets, signals) = work();
    let elapsed = match (cpu, thread_cpu_time()) {
        (Some(before), Some(after)) if after > before => after - before,
        _ => wall.elapsed(),
    };
    Run {
        elapsed,
        bytes,
        packets,
        signals,
    }
}

/// Our ring on one thread, as ring.rs's one-thread column: up to 16 KiB of packets through
/// one `RingSender::batch`, commit, read them all through one `RingReceiver::batch`, commit.
#[inline(never)]
fn ours_one_thread<const FULL: bool>(size: usize) -> Run {
    let total = RING_BYTES as u64 + 4096;
    let memory = AtomicMemory::new(0, total as usize);
    let pages = RingPages::contiguous(0, total).unwrap();
    initialize_control_page(&memory, &pages, FEATURE_PENDING_SEND_SIZE).unwrap();
    let mut sender = RingSender::new(&memory, pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(&memory, pages).unwrap();
    let packets = total_bytes() / size;
    let batch = (BATCH_BYTES / size).max(1);
    let payloads = Payloads::new(size);
    let (mut out, mut scratch) = (vec![0u8; size], vec![0u8; size]);
    let run = on_cpu(|| {
        let (mut bytes, mut sent, mut received, mut signals) = (0, 0, 0, (0, 0));
        while sent < packets {
            let count = batch.min(packets - sent);
            let mut writes = sender.batch();
            for id in sent..sent + count {
                let mut packet = writes
                    .reserve(&PacketHeader::in_band(id as u64, false), size)
                    .unwrap();
                packet
                    .write(0, payloads.source::<FULL>(id, &mut scratch))
                    .unwrap();
                packet.finish().unwrap();
            }
            signals.0 += usize::from(sender.commit().unwrap());
            let mut reads = receiver.batch();
            while let Some(packet) = reads.peek().unwrap() {
                assert_eq!(packet.payload_len(), size);
                packet.read_payload(0, &mut out).unwrap();
                packet.release().unwrap();
                payloads.check::<FULL>(received, std::hint::black_box(&out), &mut scratch);
                bytes += out.len();
                received += 1;
            }
            signals.1 += usize::from(receiver.commit().unwrap());
            sent += count;
        }
        (bytes, received, signals)
    });
    checked(run, size)
}

/// OpenVMM's ring on one thread over any of its ring memories, in the same batches as
/// [`ours_one_thread`].
#[inline(never)]
fn openvmm_one_thread<const FULL: bool, M: RingMem>(
    sender_memory: M,
    receiver_memory: M,
    size: usize,
) -> Run {
    let in_ring = IncomingRing::new(receiver_memory).unwrap();
    in_ring.set_interrupt_mask(false);
    let out_ring = OutgoingRing::new(sender_memory).unwrap();
    let mut outgoing = out_ring.outgoing().unwrap();
    let mut incoming = in_ring.incoming().unwrap();
    let packets = total_bytes() / size;
    let batch = (BATCH_BYTES / size).max(1);
    let payloads = Payloads::new(size);
    let (mut out, mut scratch) = (vec![0u8; size], vec![0u8; size]);
    let run = on_cpu(|| {
        let (mut bytes, mut sent, mut received, mut signals) = (0, 0, 0, (0, 0));
        while sent < packets {
            let count = batch.min(packets - sent);
            for id in sent..sent + count {
                let packet = OutgoingPacket {
                    transaction_id: id as u64,
                    size,
                    typ: OutgoingPacketType::InBandNoCompletion,
                };
                let range = out_ring.write(&mut outgoing, &packet).unwrap();
                range
                    .writer(&out_ring)
                    .write(payloads.source::<FULL>(id, &mut scratch))
                    .unwrap();
            }
            signals.0 += usize::from(out_ring.commit_write(&mut outgoing));
            loop {
                match in_ring.read(&mut incoming) {
                    Ok(packet) => {
                        assert_eq!(packet.payload.len(), size);
                        packet.payload.reader(&in_ring).read(&mut out).unwrap();
                        payloads.check::<FULL>(received, std::hint::black_box(&out), &mut scratch);
                        bytes += out.len();
                        received += 1;
                    }
                    Err(ReadError::Empty) => break,
                    Err(error) => panic!("{error}"),
                }
            }
            signals.1 += usize::from(in_ring.commit_read(&mut incoming));
            sent += count;
        }
        (bytes, received, signals)
    });
    checked(run, size)
}

fn openvmm_flat_one_thread<const FULL: bool>(size: usize) -> Run {
    let memory = FlatRingMem::new(RING_BYTES);
    openvmm_one_thread::<FULL, _>(&memory, &memory, size)
}

/// A ring's control page and data pages in one page-aligned piece of memory, for OpenVMM's
/// `PagedRingMem` (which reaches the data page by page, as its host side does through the
/// guest's pages).
struct Pages {
    bytes: Vec<AtomicU8>,
    /// Where the control page starts in `bytes` (page-aligned).
    start: usize,
    data_pages: usize,
}

impl Pages {
    fn new(data_bytes: usize) -> Self {
        let data_pages = data_bytes / PAGE_SIZE;
        let mut bytes = Vec::new();
        bytes.resize_with((data_pages + 2) * PAGE_SIZE, AtomicU8::default);
        let start = (PAGE_SIZE - bytes.as_ptr() as usize % PAGE_SIZE) % PAGE_SIZE;
        Pages {
            bytes,
            start,
            data_pages,
        }
    }

    fn page(&self, index: usize) -> &[AtomicU8; PAGE_SIZE] {
        let offset = self.start + index * PAGE_SIZE;
        self.bytes[offset..offset + PAGE_SIZE].try_into().unwrap()
    }
}

impl PagedMemory for Pages {
    fn control(&self) -> &[AtomicU8; PAGE_SIZE] {
        self.page(0)
    }

    fn data_page_count(&self) -> usize {
        self.data_pages
    }

    fn data(&self, page: usize) -> &[AtomicU8; PAGE_SIZE] {
        // `page` may be up to twice the count: the ring seen as mapped twice in a row.
        let page = if page >= self.data_pages {
            page - self.data_pages
        } else {
            page
        };
        self.page(1 + page)
    }
}

fn openvmm_paged_one_thread<const FULL: bool>(size: usize) -> Run {
    let memory = PagedRingMem::new(Pages::new(RING_BYTES));
    openvmm_one_thread::<FULL, _>(&memory, &memory, size)
}

/// The median of `runs` by elapsed time.
fn median(runs: &[Run]) -> Run {
    let mut sorted = runs.to_vec();
    sorted.sort_by_key(|run| run.elapsed);
    sorted[sorted.len() / 2]
}

/// The lowest and highest of the per-run ratios of `ours` to `theirs` (MB/s), run i against
/// run i: how far the ratio swings from run to run.
fn paired_range(ours: &[Run], theirs: &[Run]) -> (f64, f64) {
    ours.iter()
        .zip(theirs)
        .map(|(ours, theirs)| ours.megabytes_per_second() / theirs.megabytes_per_second())
        .fold((f64::MAX, 0.0f64), |(low, high), ratio| {
            (low.min(ratio), high.max(ratio))
        })
}

/// The runs of one packet size, column by column.
#[derive(Default)]
struct Cells {
    ours_two: Vec<Run>,
    openvmm_two: Vec<Run>,
    ours_one: Vec<Run>,
    openvmm_one: Vec<Run>,
    paged_one: Vec<Run>,
}

/// Checks every payload byte of every column once, then makes the timed runs.
fn measure(size: usize, runs: usize) -> Cells {
    ours_two_threads::<true>(size);
    openvmm_two_threads::<true>(size);
    ours_one_thread::<true>(size);
    openvmm_flat_one_thread::<true>(size);
    openvmm_paged_one_thread::<true>(size);
    let mut cells = Cells::default();
    for run in 0..runs {
        // Alternate which ring goes first, so neither always follows the other.
        if run % 2 == 0 {
            cells.ours_two.push(ours_two_threads::<false>(size));
            cells.openvmm_two.push(openvmm_two_threads::<false>(size));
            cells.ours_one.push(ours_one_thread::<false>(size));
            cells
                .openvmm_one
                .push(openvmm_flat_one_thread::<false>(size));
            cells
                .paged_one
                .push(openvmm_paged_one_thread::<false>(size));
        } else {
            cells.openvmm_two.push(openvmm_two_threads::<false>(size));
            cells.ours_two.push(ours_two_threads::<false>(size));
            cells
                .paged_one
                .push(openvmm_paged_one_thread::<false>(size));
            cells
                .openvmm_one
                .push(openvmm_flat_one_thread::<false>(size));
            cells.ours_one.push(ours_one_thread::<false>(size));
        }
    }
    cells
}

/// CPU time, in seconds, that all processes (first) and this process (second) have used so
/// far: the busy fields of `/proc/stat`'s `cpu` line and this process's user and system time
/// in `/proc/self/stat`, both in USER_HZ ticks (100 a second on Linux). `None` where those
/// files are missing.
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    let all: u64 = fields.iter().take(8).sum::<u64>() - fields.get(3)? - fields.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command name (in parentheses) come the state, then numbers; utime and stime
    // are the 12th and 13th fields from the state on.
    let mut after_name = own.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = after_name.next()?.parse().ok()?;
    let stime: u64 = after_name.next()?.parse().ok()?;
    let mine = utime + stime;
    Some((all as f64 / 100.0, mine as f64 / 100.0))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `OPENVMM_BENCH_PROFILE=ours|openvmm|paged`: that one-thread column alone, 50 times (or
/// `OPENVMM_BENCH_RUNS`) at the first of `OPENVMM_BENCH_SIZES` (64 by default).
fn profile(column: &str, sizes: &[usize], runs: Option<usize>) {
    let size = sizes.first().copied().unwrap_or(64);
    let column: fn(usize) -> Run = match column {
        "openvmm" => openvmm_flat_one_thread::<false>,
        "paged" => openvmm_paged_one_thread::<false>,
        _ => ours_one_thread::<false>,
    };
    for _ in 0..runs.unwrap_or(50) {
        std::hint::black_box(column(size).elapsed);
    }
}

fn main() {
    let sizes: Vec<usize> = match std::env::var("OPENVMM_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|size| size.trim().parse().ok())
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    let runs: Option<usize> = std::env::var("OPENVMM_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok());
    if let Ok(column) = std::env::var("OPENVMM_BENCH_PROFILE") {
        profile(&column, &sizes, runs);
        return;
    }
    let runs = runs.unwrap_or(RUNS).max(1);
    let cores = std::thread::available_parallelism().map_or(1, |count| count.get());
    println!("load average before: {}", load_average());
    println!(
        "ours (dxgos-vmbus over AtomicMemory) vs OpenVMM vmbus_ring (FlatRingMem): {} MiB per \
         run, 256 KiB data areas, median of {runs} runs, {cores} CPU(s)",
        total_bytes() >> 20
    );
    println!(
        "{:>6} | {:>9} {:>9} {:>6} {:>13} | {:>9} {:>9} {:>6} {:>13} | {:>9} {:>6} | {:>6}",
        "", "2 threads", "", "", "", "1 thread", "", "", "", "1 thread", "", "others"
    );
    println!(
        "{:>6} | {:>9} {:>9} {:>6} {:>13} | {:>9} {:>9} {:>6} {:>13} | {:>9} {:>6} | {:>6}",
        "size",
        "ours",
        "openvmm",
        "ratio",
        "paired range",
        "ours",
        "openvmm",
        "ratio",
        "paired range",
        "paged",
        "ratio",
        "busy"
    );
    println!(
        "{:>6} | {:>9} {:>9} {:>6} {:>13} | {:>9} {:>9} {:>6} {:>13} | {:>9} {:>6} | {:>6}",
        "B", "MB/s", "MB/s", "", "", "MB/s", "MB/s", "", "", "MB/s", "", "CPUs"
    );
    let mut rows = Vec::new();
    for &size in &sizes {
        let (wall, before) = (Instant::now(), cpu_seconds());
        let cells = measure(size, runs);
        // How many CPUs' worth of other processes ran while this size was measured: the
        // two-thread column is only meaningful near 0 (on two CPUs, anything else running
        // takes one of the threads' CPUs).
        let others = match (before, cpu_seconds()) {
            (Some((all_before, mine_before)), Some((all, mine))) => format!(
                "{:.2}",
                ((all - all_before) - (mine - mine_before)).max(0.0) / wall.elapsed().as_secs_f64()
            ),
            _ => "?".to_string(),
        };
        let (ours_two, openvmm_two) = (median(&cells.ours_two), median(&cells.openvmm_two));
        let (ours_one, openvmm_one) = (median(&cells.ours_one), median(&cells.openvmm_one));
        let paged_one = median(&cells.paged_one);
        let ratio = |ours: &Run, theirs: &Run| {
            format!(
                "{:.2}×",
                ours.megabytes_per_second() / theirs.megabytes_per_second()
            )
        };
        let range = |(low, high): (f64, f64)| format!("{low:.2}–{high:.2}×");
        println!(
            "{:>6} | {:>9.0} {:>9.0} {:>6} {:>13} | {:>9.0} {:>9.0} {:>6} {:>13} | {:>9.0} {:>6} | {:>6}",
            size,
            ours_two.megabytes_per_second(),
            openvmm_two.megabytes_per_second(),
            ratio(&ours_two, &openvmm_two),
            range(paired_range(&cells.ours_two, &cells.openvmm_two)),
            ours_one.megabytes_per_second(),
            openvmm_one.megabytes_per_second(),
            ratio(&ours_one, &openvmm_one),
            range(paired_range(&cells.ours_one, &cells.openvmm_one)),
            paged_one.megabytes_per_second(),
            ratio(&ours_one, &paged_one),
            others,
        );
        rows.push((
            size,
            ours_two,
            openvmm_two,
            ours_one,
            openvmm_one,
            paged_one,
        ));
    }
    println!("load average after: {}", load_average());
    println!();
    println!("one thread, ns per packet (CPU time), and signals asked for in the median runs");
    println!("(producer/consumer commits; two threads: ours, openvmm):");
    println!(
        "{:>6} | {:>8} {:>8} {:>8} {:>9} | {:>15} {:>15}",
        "size", "ours", "openvmm", "paged", "ours−ovmm", "signals ours", "signals ovmm"
    );
    for (size, ours_two, openvmm_two, ours_one, openvmm_one, paged_one) in rows {
        let (ours, theirs) = (
            ours_one.nanoseconds_per_packet(),
            openvmm_one.nanoseconds_per_packet(),
        );
        println!(
            "{:>6} | {ours:>8.1} {theirs:>8.1} {:>8.1} {:>9.1} | {:>15} {:>15}",
            size,
            paged_one.nanoseconds_per_packet(),
            ours - theirs,
            format!("{}/{}", ours_two.signals.0, ours_two.signals.1),
            format!("{}/{}", openvmm_two.signals.0, openvmm_two.signals.1),
        );
    }
    println!(
        "every payload byte of every column was compared once per size before timing; \
         ratios are ours ÷ OpenVMM's (above 1: ours is faster); the paged column is OpenVMM's \
         PagedRingMem, its ratio ours (1 thread) ÷ it; \"others busy\" is the CPU time other \
         processes took while that row was measured, in CPUs (two-thread figures mean little \
         above about 0.1)"
    );
}
