//! Ring throughput. Columns, all moving the same bytes in chunks of the packet size:
//! 1. the VMBus ring (`RingSender`/`RingReceiver`, 256 KiB data area) over `AtomicMemory`,
//!    two threads, through the in-place API (`reserve`/`write`/`finish` through a
//!    `RingSender::batch` per run of up to 16 KiB, one commit each; `peek`/`read_payload`/
//!    `release`): each payload is copied into the ring once and out of it once, as rtrb's
//!    chunks are;
//! 2. `rtrb`'s SPSC ring of 256 KiB bytes, two threads;
//! 3. the VMBus ring and rtrb each on one thread, writing a 16 KiB batch and reading it back
//!    (each side commits once per batch, as a driver would; the VMBus sender writes each
//!    batch through `RingSender::batch`): the cost of the rings
//!    themselves, free of scheduling (on a machine whose two CPUs are shared with other work,
//!    the two-thread columns mostly measure the scheduler);
//! 4. the VMBus ring's copying API on one thread (`write_packet` from a slice, `read_packet`
//!    into a `Vec`, descriptor included), in the same batches;
//! 5. plain memcpy through a 256 KiB buffer, one thread;
//! 6. AtomicMemory's write+read copies alone, one thread: `SharedBytes`' inline-assembly
//!    copies (shared-bytes/src/x86_64.rs), cache-line aligned.
//!
//! Each run of every column is made [`RUNS`] times in one process, the columns interleaved (so
//! a burst of load from other processes hits all of them alike). Two-thread cells are the
//! median run, timed by the wall clock; one-thread cells the median run too, timed by the
//! thread's own CPU time (`/proc/thread-self/schedstat`), so that on a machine shared with
//! other work the time spent waiting for a CPU does not count. The `÷rtrb` columns divide the
//! VMBus ring's throughput by rtrb's.
//!
//! Run: `cargo bench -p dxgos-vmbus --bench ring` (the package is `dxgos-vmbus`). Prints a
//! table and writes a plot of throughput by packet size (VMBus ring, rtrb, memcpy) to
//! `target/ring-bench.svg`, or to the path in `RING_BENCH_SVG`. `RING_BENCH_SIZES=64,1024`
//! limits the sizes; `RING_BENCH_PROFILE` runs one column alone (see [`profile`]). No
//! assertions.

use hyperv::memory::{AtomicMemory, GuestMemory};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmbus::ring::{
    DEFAULT_RING_DATA_SIZE, OutgoingPacket, PacketHeader, RingError, RingPages, RingReceiver,
    RingSender, initialize_control_page,
};

const SIZES: [usize; 6] = [64, 256, 1024, 4096, 16 * 1024, 64 * 1024];
const TOTAL_BYTES: usize = 32 << 20;
/// Each cell is the median of this many runs (the machine may be shared).
const RUNS: usize = 7;
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
        // Packets go in runs of up to 16 KiB, each written through one `RingSender::batch`
        // and published by one commit, as a driver batches its commits (small packets are
        // not one commit each).
        let per_batch = (16 * 1024 / size).max(1);
        let mut id = 0;
        while id < packets {
            let end = (id + per_batch).min(packets);
            let mut full = false;
            let mut batch = sender.batch();
            while id < end {
                match batch.reserve(&PacketHeader::in_band(id as u64, false), size) {
                    Ok(mut packet) => {
                        packet.write(0, &payload).unwrap();
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
                // Published what is written; retry after yielding, which beats spinning on
                // an oversubscribed machine. (A real driver would wait_for_space and sleep
                // until signalled.)
                std::thread::yield_now();
            }
        }
        signals += usize::from(sender.commit().unwrap());
        signals
    });
    let mut out = vec![0u8; size];
    let mut received = 0;
    let mut bytes = 0;
    while received < packets {
        let mut any = false;
        while let Some(packet) = receiver.peek().unwrap() {
            packet.read_payload(0, &mut out).unwrap();
            packet.release().unwrap();
            bytes += std::hint::black_box(&out).len();
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

/// This thread's time on a CPU so far: the first field of `/proc/thread-self/schedstat`, in
/// ns, or `None` where that file does not exist. Linux brings that sum up to date when the
/// thread passes through the scheduler, so the thread yields first.
fn thread_cpu_time() -> Option<Duration> {
    std::thread::yield_now();
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanoseconds))
}

/// Times `work` by this thread's CPU time (wall time where that is unavailable), so that
/// waiting for a CPU on a busy machine does not count.
fn on_cpu(work: impl FnOnce() -> (usize, usize)) -> Result {
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    let (bytes, packets) = work();
    let elapsed = match (cpu, thread_cpu_time()) {
        (Some(before), Some(after)) if after > before => after - before,
        _ => wall.elapsed(),
    };
    Result {
        elapsed,
        bytes,
        packets,
    }
}

/// The VMBus ring's copying API on one thread (`write_packet` copies the payload in,
/// `read_packet` copies the whole packet out into a `Vec`), in the batches of
/// [`vmbus_ring_one_thread`].
#[inline(never)]
fn vmbus_copying_one_thread(size: usize) -> Result {
    let total = RING_BYTES as u64 + 4096;
    let memory = AtomicMemory::new(0, total as usize);
    let pages = RingPages::contiguous(0, total).unwrap();
    initialize_control_page(&memory, &pages, 0).unwrap();
    let mut sender = RingSender::new(&memory, pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(&memory, pages).unwrap();
    let packets = TOTAL_BYTES / size;
    let batch = (16 * 1024 / size).max(1);
    let payload = vec![0x5Au8; size];
    let mut buffer = Vec::with_capacity(size + 64);
    on_cpu(|| {
        let mut bytes = 0;
        let mut sent = 0;
        while sent < packets {
            let count = batch.min(packets - sent);
            for id in sent..sent + count {
                sender
                    .write_packet(&OutgoingPacket::in_band(id as u64, false, &payload))
                    .unwrap();
            }
            sender.commit().unwrap();
            while let Some(packet) = receiver.read_packet(&mut buffer).unwrap() {
                bytes += packet.payload(&buffer).len();
            }
            receiver.commit().unwrap();
            sent += count;
        }
        (bytes, packets)
    })
}

/// The VMBus ring on one thread, with the in-place API as a driver uses it (`reserve`, write the
/// payload into the ring, `finish`; `peek`, read the payload out of the ring, `release`): write
/// up to 16 KiB of packets through one `RingSender::batch` (one window of the ring for the
/// batch), commit, read them all, commit. Free of scheduling effects, so it
/// measures the ring's own cost per byte.
#[inline(never)]
fn vmbus_ring_one_thread(size: usize) -> Result {
    let total = RING_BYTES as u64 + 4096;
    let memory = AtomicMemory::new(0, total as usize);
    let pages = RingPages::contiguous(0, total).unwrap();
    initialize_control_page(&memory, &pages, 0).unwrap();
    let mut sender = RingSender::new(&memory, pages.clone()).unwrap();
    let mut receiver = RingReceiver::new(&memory, pages).unwrap();
    let packets = TOTAL_BYTES / size;
    let batch = (16 * 1024 / size).max(1);
    let payload = vec![0x5Au8; size];
    let mut out = vec![0u8; size];
    on_cpu(|| {
        let mut bytes = 0;
        let mut sent = 0;
        while sent < packets {
            let count = batch.min(packets - sent);
            let mut writes = sender.batch();
            for id in sent..sent + count {
                let mut packet = writes
                    .reserve(&PacketHeader::in_band(id as u64, false), size)
                    .unwrap();
                packet.write(0, &payload).unwrap();
                packet.finish().unwrap();
            }
            sender.commit().unwrap();
            let mut reads = receiver.batch();
            while let Some(packet) = reads.peek().unwrap() {
                packet.read_payload(0, &mut out).unwrap();
                packet.release().unwrap();
                bytes += std::hint::black_box(&out).len();
            }
            receiver.commit().unwrap();
            sent += count;
        }
        (bytes, packets)
    })
}

/// rtrb on one thread, in the same batches as [`vmbus_ring_one_thread`], each chunk copied in
/// and out as the VMBus ring's payloads are.
#[inline(never)]
fn rtrb_ring_one_thread(size: usize) -> Result {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<u8>::new(RING_BYTES);
    let packets = TOTAL_BYTES / size;
    let batch = (16 * 1024 / size).max(1);
    let payload = vec![0x5Au8; size];
    let mut out = vec![0u8; size];
    on_cpu(|| {
        let mut bytes = 0;
        let mut sent = 0;
        while sent < packets {
            let count = batch.min(packets - sent);
            for _ in 0..count {
                let mut chunk = producer.write_chunk(size).unwrap();
                let (first, second) = chunk.as_mut_slices();
                first.copy_from_slice(&payload[..first.len()]);
                second.copy_from_slice(&payload[first.len()..]);
                chunk.commit_all();
            }
            for _ in 0..count {
                let chunk = consumer.read_chunk(size).unwrap();
                let (first, second) = chunk.as_slices();
                out[..first.len()].copy_from_slice(first);
                out[first.len()..].copy_from_slice(second);
                chunk.commit_all();
                bytes += std::hint::black_box(&out).len();
            }
            sent += count;
        }
        (bytes, packets)
    })
}

fn memcpy(size: usize) -> Result {
    let packets = TOTAL_BYTES / size;
    let source = vec![0x5Au8; size];
    let mut ring = vec![0u8; RING_BYTES];
    let mut out = vec![0u8; size];
    on_cpu(|| {
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
        (packets * size, packets)
    })
}

fn atomic_memory_copies(size: usize) -> Result {
    let memory = AtomicMemory::new(0, RING_BYTES);
    let packets = TOTAL_BYTES / size;
    let source = vec![0x5Au8; size];
    let mut out = vec![0u8; size];
    on_cpu(|| {
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
        (packets * size, packets)
    })
}

/// The median of `results` by elapsed time.
fn median(mut results: Vec<Result>) -> Result {
    results.sort_by_key(|result| result.elapsed);
    results.swap_remove(results.len() / 2)
}

/// One row of the table: the medians for one packet size.
struct Row {
    size: usize,
    vmbus: Result,
    rtrb: Result,
    memcpy: Result,
    atomic: Result,
    vmbus_one_thread: Result,
    copying_one_thread: Result,
    rtrb_one_thread: Result,
}

fn measure(size: usize) -> Row {
    let (mut vmbus, mut rtrb, mut copy, mut atomic) = (vec![], vec![], vec![], vec![]);
    let (mut vmbus_one, mut rtrb_one, mut copying_one) = (vec![], vec![], vec![]);
    for _ in 0..RUNS {
        vmbus.push(vmbus_ring(size));
        rtrb.push(rtrb_ring(size));
        copy.push(memcpy(size));
        atomic.push(atomic_memory_copies(size));
        vmbus_one.push(vmbus_ring_one_thread(size));
        copying_one.push(vmbus_copying_one_thread(size));
        rtrb_one.push(rtrb_ring_one_thread(size));
    }
    Row {
        size,
        vmbus: median(vmbus),
        rtrb: median(rtrb),
        memcpy: median(copy),
        atomic: median(atomic),
        vmbus_one_thread: median(vmbus_one),
        copying_one_thread: median(copying_one),
        rtrb_one_thread: median(rtrb_one),
    }
}

/// One line of the plot: its name, its colour, its dash pattern and its value in a row.
type Series = (&'static str, &'static str, &'static str, fn(&Row) -> f64);

/// A log-log line plot of MB/s by packet size: each ring on one thread (solid; CPU time) and on
/// two threads (dashed; wall time), the VMBus ring's copying API on one thread (dotted), and
/// memcpy.
fn svg(rows: &[Row]) -> String {
    let (width, height, left, bottom, top, right) = (720.0, 420.0, 80.0, 50.0, 30.0, 200.0);
    let series: [Series; 6] = [
        ("VMBus ring, 1 thread", "#d62728", "", |row| {
            row.vmbus_one_thread.megabytes_per_second()
        }),
        ("VMBus, copying API", "#ff9896", "2,3", |row| {
            row.copying_one_thread.megabytes_per_second()
        }),
        ("rtrb, 1 thread", "#1f77b4", "", |row| {
            row.rtrb_one_thread.megabytes_per_second()
        }),
        ("memcpy", "#7f7f7f", "", |row| {
            row.memcpy.megabytes_per_second()
        }),
        ("VMBus ring, 2 threads", "#d62728", "6,4", |row| {
            row.vmbus.megabytes_per_second()
        }),
        ("rtrb, 2 threads", "#1f77b4", "6,4", |row| {
            row.rtrb.megabytes_per_second()
        }),
    ];
    let values = rows
        .iter()
        .flat_map(|row| series.iter().map(move |(_, _, _, value)| value(row)));
    let low = values
        .clone()
        .fold(f64::MAX, f64::min)
        .max(1.0)
        .log10()
        .floor();
    let high = values.fold(1.0, f64::max).log10().ceil().max(low + 1.0);
    let sizes = || rows.iter().map(|row| (row.size as f64).log2());
    let (first, last) = (
        sizes().fold(f64::MAX, f64::min),
        sizes().fold(0.0, f64::max),
    );
    let x = |size: usize| {
        left + ((size as f64).log2() - first) / (last - first).max(1.0) * (width - left - right)
    };
    let y = |value: f64| {
        height - bottom - (value.max(1.0).log10() - low) / (high - low) * (height - bottom - top)
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\">Ring throughput by packet size, 256 KiB ring (median of {RUNS} runs)</text>\n"
    );
    for decade in low as i32..=high as i32 {
        let position = y(10f64.powi(decade));
        out += &format!(
            "<line x1=\"{left}\" y1=\"{position:.1}\" x2=\"{:.1}\" y2=\"{position:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} MB/s</text>\n",
            width - right,
            left - 6.0,
            position + 4.0,
            10u64.pow(decade.max(0) as u32)
        );
    }
    for row in rows {
        let label = if row.size >= 1024 {
            format!("{} KiB", row.size / 1024)
        } else {
            format!("{} B", row.size)
        };
        out += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>\n",
            x(row.size),
            height - bottom + 18.0
        );
    }
    out += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">packet size</text>\n",
        (left + width - right) / 2.0,
        height - 10.0
    );
    for (index, (name, colour, dash, value)) in series.iter().enumerate() {
        let points: Vec<String> = rows
            .iter()
            .map(|row| format!("{:.1},{:.1}", x(row.size), y(value(row))))
            .collect();
        let legend_y = top + 20.0 * index as f64 + 10.0;
        out += &format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" \
             stroke-dasharray=\"{dash}\" points=\"{}\"/>\n\
             <line x1=\"{:.1}\" y1=\"{legend_y:.1}\" x2=\"{:.1}\" y2=\"{legend_y:.1}\" \
             stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            points.join(" "),
            width - right + 10.0,
            width - right + 30.0,
            width - right + 36.0,
            legend_y + 4.0
        );
    }
    out + "</svg>\n"
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `RING_BENCH_PROFILE=ring|copying|rtrb|copies|memcpy` runs only that one-thread column,
/// `RING_BENCH_RUNS` times (50 by default) at the first of `RING_BENCH_SIZES` (64 by default),
/// printing nothing: for `perf record` or `valgrind --tool=callgrind`, where the other columns
/// would only be in the way.
fn profile(column: &str) {
    let size = std::env::var("RING_BENCH_SIZES")
        .ok()
        .and_then(|list| list.split(',').next()?.parse().ok())
        .unwrap_or(64);
    let runs = std::env::var("RING_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(50);
    let column: fn(usize) -> Result = match column {
        "copying" => vmbus_copying_one_thread,
        "rtrb" => rtrb_ring_one_thread,
        "copies" => atomic_memory_copies,
        "memcpy" => memcpy,
        _ => vmbus_ring_one_thread,
    };
    for _ in 0..runs {
        std::hint::black_box(column(size).elapsed);
    }
}

fn main() {
    if let Ok(column) = std::env::var("RING_BENCH_PROFILE") {
        profile(&column);
        return;
    }
    println!("load average before: {}", load_average());
    let cores = std::thread::available_parallelism()
        .map(|count| count.get())
        .unwrap_or(1);
    println!(
        "ring benchmark: {} MiB per size, 256 KiB rings, {cores} CPU(s)",
        TOTAL_BYTES >> 20
    );
    println!(
        "{:>7} | {:>20} | {:>20} | {:>6} | {:>20} | {:>20} | {:>6} | {:>20} | {:>6} | {:>20} | {:>20}",
        "size",
        "vmbus ring (2 thr)",
        "rtrb (2 thr)",
        "÷rtrb",
        "vmbus ring (1 thr)",
        "rtrb (1 thr)",
        "÷rtrb",
        "copying API (1 thr)",
        "÷rtrb",
        "memcpy (1 thr)",
        "AtomicMemory copy"
    );
    let unit = "MB/s  packets/s";
    println!(
        "{:>7} | {unit:>20} | {unit:>20} | {:>6} | {unit:>20} | {unit:>20} | {:>6} | {unit:>20} | {:>6} | {unit:>20} | {unit:>20}",
        "", "", "", ""
    );
    let cell = |result: &Result| {
        format!(
            "{:>7.0} {:>12.0}",
            result.megabytes_per_second(),
            result.packets_per_second()
        )
    };
    // `RING_BENCH_SIZES=64,1024` measures only these sizes (for profiling one of them).
    let sizes: Vec<usize> = match std::env::var("RING_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|size| size.parse().ok())
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    let mut rows = Vec::new();
    for size in sizes {
        let row = measure(size);
        let ratio = |ours: &Result, theirs: &Result| {
            format!(
                "{:>5.2}×",
                ours.megabytes_per_second() / theirs.megabytes_per_second()
            )
        };
        println!(
            "{:>7} | {:>20} | {:>20} | {:>6} | {:>20} | {:>20} | {:>6} | {:>20} | {:>6} | {:>20} | {:>20}",
            row.size,
            cell(&row.vmbus),
            cell(&row.rtrb),
            ratio(&row.vmbus, &row.rtrb),
            cell(&row.vmbus_one_thread),
            cell(&row.rtrb_one_thread),
            ratio(&row.vmbus_one_thread, &row.rtrb_one_thread),
            cell(&row.copying_one_thread),
            ratio(&row.copying_one_thread, &row.rtrb_one_thread),
            cell(&row.memcpy),
            cell(&row.atomic),
        );
        rows.push(row);
    }
    println!("load average after: {}", load_average());
    println!();
    println!("per packet, one thread (ns, CPU time; the ring's own work is its time less the");
    println!("AtomicMemory write+read of the payload):");
    println!(
        "{:>7} | {:>10} | {:>10} | {:>14} | {:>10}",
        "size", "vmbus ring", "its copies", "its own work", "rtrb"
    );
    let nanoseconds = |result: &Result| result.elapsed.as_secs_f64() * 1e9 / result.packets as f64;
    for row in &rows {
        let (ring, copies) = (nanoseconds(&row.vmbus_one_thread), nanoseconds(&row.atomic));
        println!(
            "{:>7} | {ring:>10.1} | {copies:>10.1} | {:>14.1} | {:>10.1}",
            row.size,
            ring - copies,
            nanoseconds(&row.rtrb_one_thread)
        );
    }
    let path = std::env::var("RING_BENCH_SVG").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/ring-bench.svg").to_string()
    });
    match std::fs::write(&path, svg(&rows)) {
        Ok(()) => println!("plot written to {path}"),
        Err(error) => println!("plot not written to {path}: {error}"),
    }
    println!(
        "note: the last column is AtomicMemory's write+read copy work alone on one thread; \
         one-thread columns are CPU time, two-thread columns wall time (on two CPUs shared with \
         other processes they swing with the load average)."
    );
}
