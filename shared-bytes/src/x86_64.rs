//! The x86-64 backend: every access to the shared memory is inline assembly (see the crate
//! docs for why that is sound and what the hardware guarantees).
//!
//! Each public function checks its range first ([`super::check`], [`super::check_u32`]) and
//! only then forms a pointer into the storage, so every pointer the assembly uses is inside
//! the allocation; the storage is `[AtomicU64]`, whose `UnsafeCell`s allow writing through a
//! shared reference.
#![allow(unsafe_code)]

use super::{AccessError, check, check_u32};
use core::arch::asm;
use core::sync::atomic::AtomicU64;

/// Copies from this many bytes on use `rep movsb` where there is no AVX2: below it, its
/// start-up cost exceeds a register loop's; from it on, with ERMS/FSRM, it matches `memcpy`
/// (glibc switches to it at 2 KiB too, `__x86_rep_movsb_threshold`). Measured on this
/// project's host: at 1 KiB the SSE loop is about 30 % faster than `rep movsb`, at 4 KiB and
/// above `rep movsb` wins.
const REP_MOVSB_THRESHOLD: usize = 2048;

/// Where AVX2 copies are available, `rep movsb` takes over only from here: measured in the
/// ring bench (8-byte-aligned payloads) on an Intel Xeon host, AVX2 copies with aligned
/// stores made the ring about 10 % faster at 4 KiB than `rep movsb`, and `rep movsb` about
/// 15 % faster at 16 KiB.
#[cfg(target_feature = "sse2")]
const REP_MOVSB_THRESHOLD_WITH_AVX: usize = 8192;

/// [`REP_MOVSB_THRESHOLD_WITH_AVX`] on AMD CPUs: on an AMD EPYC host (family 25, model 17)
/// the AVX2 copies beat `rep movsb` at every length the ring bench measures, and the
/// `AtomicMemory` copies alone were faster to 128 KiB and as fast at 256 KiB
/// (docs/performance.md §1, "Round 7"); `rep movsb` is kept for longer copies, which were
/// not measured.
#[cfg(target_feature = "sse2")]
const REP_MOVSB_THRESHOLD_WITH_AVX_ON_AMD: usize = 256 * 1024;

/// The address of byte `offset` of `words`. Forming it is safe; using it is what needs the
/// range check the callers make.
#[inline]
pub(super) fn address(words: &[AtomicU64], offset: usize) -> *mut u8 {
    words.as_ptr().cast::<u8>().cast_mut().wrapping_add(offset)
}

/// Copies `length` bytes from `source` to `destination` in assembly: short copies inline
/// ([`copy_short`]), long ones out of line ([`copy_long`]), so every access site stays small.
///
/// # Safety
/// `source` must be valid for reads and `destination` for writes of `length` bytes, the two
/// ranges must not overlap, and any of those bytes that other threads access concurrently
/// must be accessed by them only through this module (assembly), never by Rust code.
#[inline]
unsafe fn copy(destination: *mut u8, source: *const u8, length: usize) {
    // 16 to 64 bytes first, with one compare: descriptors and small packets' payloads, the
    // copies a ring makes most often (measured: a 64-byte packet's two payload copies each
    // took four compares before their first load when this range was tested last).
    #[cfg(target_feature = "sse2")]
    if length.wrapping_sub(16) <= 48 {
        // SAFETY: as [`copy`]; `16 ≤ length ≤ 64`.
        unsafe { copy_16_to_64(destination, source, length) };
        return;
    }
    // Copies of `LONG_COPY` to `AVX_FROM` bytes stay inline SSE unless the CPU takes AVX2
    // from fewer bytes (AMD) or is not yet known (`copies_from` 0; `copy_long` detects).
    #[cfg(target_feature = "sse2")]
    let long = length >= AVX_FROM || (length >= LONG_COPY && length >= avx::copies_from());
    #[cfg(not(target_feature = "sse2"))]
    let long = length >= LONG_COPY;
    if long {
        // SAFETY: the caller's contract.
        unsafe { copy_long(destination, source, length) }
    } else {
        // SAFETY: the caller's contract.
        unsafe { copy_short(destination, source, length) }
    }
}

/// Copies from this many bytes on may go to [`copy_long`]: from [`AVX_FROM`] on always,
/// from here where the CPU takes AVX2 from [`AVX_FROM_ON_AMD`] (an AMD CPU) or is not yet
/// known; below, and on other CPUs below [`AVX_FROM`], [`copy_short`] inline.
#[cfg(target_feature = "sse2")]
const LONG_COPY: usize = 256;

/// From here 32-byte AVX registers beat the 16-byte SSE ones on the Intel Xeon host
/// (measured: `cargo bench -p dxgos-vmbus --bench ring`, the ring with its 8-byte-aligned
/// payloads; at 256 bytes SSE was as fast or faster, at 1 KiB AVX2 about a quarter faster;
/// docs/performance.md §1).
#[cfg(target_feature = "sse2")]
const AVX_FROM: usize = 512;

/// [`AVX_FROM`] on AMD CPUs: on the AMD EPYC host (family 25, model 17) AVX2 copies from
/// 256 bytes made the ring 15 % faster at 256-byte packets (docs/performance.md §1,
/// "Round 7").
#[cfg(target_feature = "sse2")]
const AVX_FROM_ON_AMD: usize = 256;
/// Without SSE (a kernel's target) every copy is [`copy_short`]'s `rep movsq` + `rep movsb`,
/// whatever its length: `rep movsb` alone would retire one iteration per byte where a guest's
/// instructions are counted (QEMU's `-icount` counts each iteration; measured: a 4 KiB packet
/// through the in-guest ring took 9,016 instructions with `rep movsb` from 2 KiB, 2,638 with
/// `rep movsq`). No slice is this long, so [`copy_long`] is never reached there.
#[cfg(not(target_feature = "sse2"))]
const LONG_COPY: usize = usize::MAX;

/// [`copy`] from [`LONG_COPY`] bytes on: 32-byte AVX2 registers where the CPU and the OS
/// support them, from [`AVX_FROM`] up to `REP_MOVSB_THRESHOLD_WITH_AVX` (both `…_ON_AMD` on
/// AMD CPUs); `rep movsb` beyond, or from [`REP_MOVSB_THRESHOLD`] without AVX2; SSE
/// elsewhere.
///
/// Every path ends in a tail call or in assembly, so the function saves no registers (the
/// first call's detection is a separate cold function).
///
/// # Safety
/// As [`copy`].
#[inline(never)]
unsafe fn copy_long(destination: *mut u8, source: *const u8, length: usize) {
    #[cfg(target_feature = "sse2")]
    {
        let below = avx::copies_below();
        if length < below && length >= avx::copies_from() {
            // SAFETY: as [`copy`]; AVX2 is available (`copies_below` is 0 or 1 otherwise,
            // and `length ≥ LONG_COPY > 1`) and `length ≥ LONG_COPY ≥ 32`.
            return unsafe { avx::copy(destination, source, length) };
        }
        if below == 0 {
            // SAFETY: as [`copy`].
            return unsafe { copy_long_detecting(destination, source, length) };
        }
    }
    if length >= REP_MOVSB_THRESHOLD {
        // SAFETY: the caller's contract covers `[source, +length)` and `[destination,
        // +length)`; `rep movsb` copies exactly `length` bytes forwards (the direction flag
        // is clear at every Rust function boundary, as the System V ABI requires).
        unsafe {
            asm!(
                "rep movsb",
                inout("rcx") length => _,
                inout("rdi") destination => _,
                inout("rsi") source => _,
                options(nostack, preserves_flags),
            );
        }
        return;
    }
    // SAFETY: as [`copy`].
    unsafe { copy_short(destination, source, length) }
}

/// [`copy_long`]'s first call (per process): detects AVX2 and the vendor, then copies.
///
/// # Safety
/// As [`copy`].
#[cfg(target_feature = "sse2")]
#[cold]
#[inline(never)]
unsafe fn copy_long_detecting(destination: *mut u8, source: *const u8, length: usize) {
    avx::available();
    // SAFETY: as [`copy`]; `avx::copies_below()` is no longer 0, so this does not return here.
    unsafe { copy_long(destination, source, length) }
}

/// [`copy`] below [`LONG_COPY`]: SSE registers where the target has them.
///
/// # Safety
/// As [`copy`].
#[cfg(target_feature = "sse2")]
#[inline]
unsafe fn copy_short(destination: *mut u8, source: *const u8, length: usize) {
    // SAFETY: as [`copy`].
    unsafe { copy_sse(destination, source, length) }
}

/// [`copy`] below [`LONG_COPY`] on targets without SSE (a kernel's): `rep movsq` for the
/// whole words, then `rep movsb` for the rest ([`copy_rep_words`]).
///
/// # Safety
/// As [`copy`].
#[cfg(not(target_feature = "sse2"))]
#[inline]
unsafe fn copy_short(destination: *mut u8, source: *const u8, length: usize) {
    // SAFETY: as [`copy`].
    unsafe { copy_rep_words(destination, source, length) }
}

/// Copies `length` bytes with `rep movsq` (the whole 8-byte words) and then `rep movsb` (the
/// rest): two instructions whatever the length, which is what a guest kernel pays least for
/// where instructions are counted (QEMU's `-icount`), and what the kernel's own copies of
/// shared guest memory used before (`kernel/src/hypervisor/physical_memory.rs`).
///
/// # Safety
/// As [`copy`].
#[inline]
#[cfg_attr(target_feature = "sse2", allow(dead_code))]
unsafe fn copy_rep_words(destination: *mut u8, source: *const u8, length: usize) {
    let words = length / 8;
    let bytes = length % 8;
    // SAFETY: both ranges are valid for `length` = 8·words + bytes bytes and disjoint (the
    // caller's contract); `rep movs` copies exactly that many bytes forward (the direction
    // flag is clear on entry to an asm block, as Rust's inline-assembly rules require),
    // touches no stack and no flags, and leaves rsi/rdi/rcx changed, which the operands
    // declare.
    unsafe {
        asm!(
            "rep movsq",
            "mov rcx, {bytes}",
            "rep movsb",
            bytes = in(reg) bytes,
            inout("rcx") words => _,
            inout("rsi") source => _,
            inout("rdi") destination => _,
            options(nostack, preserves_flags),
        );
    }
}

/// Copies 16 to 64 bytes through SSE registers as a first and a last piece of 16 or 32 bytes
/// (overlapping in the middle). A byte copied twice receives a value its source held both
/// times or later, so a racing peer still only ever sees (or supplies) bytes that were
/// written, as with one pass.
///
/// # Safety
/// As [`copy`], and `16 ≤ length ≤ 64`.
#[cfg(target_feature = "sse2")]
#[inline]
unsafe fn copy_16_to_64(destination: *mut u8, source: *const u8, length: usize) {
    // SAFETY: `16 ≤ length ≤ 64` (the caller's contract); every access is a 16-byte piece
    // inside `[0, length)` of both ranges: the pieces at `length − 16` and (taken only when
    // `length > 32`) `length − 32` and 16 start at or after 0 and end by `length`.
    unsafe {
        asm!(
            "cmp {length}, 32",
            "ja 3f",
            "movdqu {a}, xmmword ptr [{source}]",
            "movdqu {b}, xmmword ptr [{source} + {length} - 16]",
            "movdqu xmmword ptr [{destination}], {a}",
            "movdqu xmmword ptr [{destination} + {length} - 16], {b}",
            "jmp 9f",
            "3:",
            "movdqu {a}, xmmword ptr [{source}]",
            "movdqu {b}, xmmword ptr [{source} + 16]",
            "movdqu {c}, xmmword ptr [{source} + {length} - 32]",
            "movdqu {d}, xmmword ptr [{source} + {length} - 16]",
            "movdqu xmmword ptr [{destination}], {a}",
            "movdqu xmmword ptr [{destination} + 16], {b}",
            "movdqu xmmword ptr [{destination} + {length} - 32], {c}",
            "movdqu xmmword ptr [{destination} + {length} - 16], {d}",
            "9:",
            length = in(reg) length,
            destination = in(reg) destination,
            source = in(reg) source,
            a = out(xmm_reg) _,
            b = out(xmm_reg) _,
            c = out(xmm_reg) _,
            d = out(xmm_reg) _,
            options(nostack),
        );
    }
}

/// Copies through SSE registers without a byte loop: 16 to 64 bytes as a first and a last
/// piece of 16 or 32 bytes (overlapping in the middle), longer copies as 64-byte blocks and
/// then the last 64 bytes of the range (overlapping the last block); below 16 bytes
/// [`copy_words_then_bytes`]. A byte copied twice receives a value its source held both
/// times or later, so a racing peer still only ever sees (or supplies) bytes that were
/// written, as with one pass.
///
/// # Safety
/// As [`copy`].
#[cfg(target_feature = "sse2")]
#[inline]
unsafe fn copy_sse(destination: *mut u8, source: *const u8, length: usize) {
    if length < 16 {
        // SAFETY: as [`copy`].
        unsafe { copy_words_then_bytes(destination, source, length) };
        return;
    }
    if length <= 64 {
        // SAFETY: as [`copy`]; `16 ≤ length ≤ 64`.
        unsafe { copy_16_to_64(destination, source, length) };
        return;
    }
    // SAFETY: `length > 64`; every access is a 16-byte piece that starts at `i` and ends by
    // `length` of both ranges: the pieces at `length − 64` start after 0, and the loop runs
    // only while more than 64 bytes remain.
    unsafe {
        asm!(
            "lea {last_source}, [{source} + {length} - 64]",
            "lea {last_destination}, [{destination} + {length} - 64]",
            "5:",
            "movdqu {a}, xmmword ptr [{source}]",
            "movdqu {b}, xmmword ptr [{source} + 16]",
            "movdqu {c}, xmmword ptr [{source} + 32]",
            "movdqu {d}, xmmword ptr [{source} + 48]",
            "movdqu xmmword ptr [{destination}], {a}",
            "movdqu xmmword ptr [{destination} + 16], {b}",
            "movdqu xmmword ptr [{destination} + 32], {c}",
            "movdqu xmmword ptr [{destination} + 48], {d}",
            "add {source}, 64",
            "add {destination}, 64",
            "sub {length}, 64",
            "cmp {length}, 64",
            "ja 5b",
            "movdqu {a}, xmmword ptr [{last_source}]",
            "movdqu {b}, xmmword ptr [{last_source} + 16]",
            "movdqu {c}, xmmword ptr [{last_source} + 32]",
            "movdqu {d}, xmmword ptr [{last_source} + 48]",
            "movdqu xmmword ptr [{last_destination}], {a}",
            "movdqu xmmword ptr [{last_destination} + 16], {b}",
            "movdqu xmmword ptr [{last_destination} + 32], {c}",
            "movdqu xmmword ptr [{last_destination} + 48], {d}",
            length = inout(reg) length => _,
            destination = inout(reg) destination => _,
            source = inout(reg) source => _,
            last_source = out(reg) _,
            last_destination = out(reg) _,
            a = out(xmm_reg) _,
            b = out(xmm_reg) _,
            c = out(xmm_reg) _,
            d = out(xmm_reg) _,
            options(nostack),
        );
    }
}

/// Copies through 32-byte AVX registers, chosen at run time: a target built for plain x86-64
/// (SSE2) may run on a CPU with AVX2, and the bench measured these copies faster than SSE
/// ones from 256 bytes to 2 KiB at the ring's 8-byte alignment (docs/performance.md §1).
/// Only where the target has SSE2 (a kernel built without SSE never touches vector
/// registers, so it keeps the word loop).
#[cfg(target_feature = "sse2")]
mod avx {
    use core::arch::asm;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// Long copies shorter than this use AVX2 ([`copy`]): 0 while not yet detected, 1 where
    /// AVX2 is unusable (every long copy is longer), else the length from which `rep movsb`
    /// takes over.
    static COPIES_BELOW: AtomicUsize = AtomicUsize::new(0);

    /// Long copies from this length on use AVX2 (below [`COPIES_BELOW`]); set with it, to
    /// `AVX_FROM` where AVX2 is unusable (0 until then).
    static COPIES_FROM: AtomicUsize = AtomicUsize::new(0);

    /// [`COPIES_BELOW`]: one relaxed load.
    #[inline]
    pub(super) fn copies_below() -> usize {
        COPIES_BELOW.load(Ordering::Relaxed)
    }

    /// [`COPIES_FROM`]: one relaxed load (meaningful once [`copies_below`] is not 0).
    #[inline]
    pub(super) fn copies_from() -> usize {
        COPIES_FROM.load(Ordering::Relaxed)
    }

    /// Whether the CPU has AVX2 and the OS saves the YMM state (CPUID.1:ECX.OSXSAVE and AVX,
    /// CPUID.7.0:EBX.AVX2, XCR0 bits 1 and 2: Intel SDM vol. 1 §14.3, "Detection of Intel
    /// AVX instructions"). Detected once, then one relaxed load.
    #[inline]
    pub(super) fn available() -> bool {
        match copies_below() {
            0 => detect() > 1,
            below => below > 1,
        }
    }

    /// Detects AVX2 and sets [`COPIES_BELOW`] (and returns it): the AMD threshold where
    /// CPUID leaf 0 names "AuthenticAMD" (AMD APM vol. 3, CPUID Fn0000_0000), the other
    /// one elsewhere.
    #[cold]
    fn detect() -> usize {
        const OSXSAVE: u32 = 1 << 27;
        const AVX: u32 = 1 << 28;
        const AVX2: u32 = 1 << 5;
        const XMM_AND_YMM_STATE: u64 = 0b110;
        // SAFETY: CPUID exists on every x86-64 CPU and only reads registers (an `unsafe fn`
        // in older Rust, safe in newer, hence the allowance).
        #[allow(unused_unsafe)]
        let leaf_one = unsafe { core::arch::x86_64::__cpuid(1) };
        // SAFETY: as above.
        #[allow(unused_unsafe)]
        let highest_leaf = unsafe { core::arch::x86_64::__cpuid(0) }.eax;
        let mut usable = highest_leaf >= 7 && leaf_one.ecx & (OSXSAVE | AVX) == OSXSAVE | AVX;
        if usable {
            // SAFETY: as above; leaf 7 exists (checked).
            #[allow(unused_unsafe)]
            let leaf_seven = unsafe { core::arch::x86_64::__cpuid_count(7, 0) };
            usable = leaf_seven.ebx & AVX2 != 0 && xcr0() & XMM_AND_YMM_STATE == XMM_AND_YMM_STATE;
        }
        let (from, below) = if !usable {
            (super::AVX_FROM, 1)
        } else if is_amd() {
            (
                super::AVX_FROM_ON_AMD,
                super::REP_MOVSB_THRESHOLD_WITH_AVX_ON_AMD,
            )
        } else {
            (super::AVX_FROM, super::REP_MOVSB_THRESHOLD_WITH_AVX)
        };
        // `from` first. A thread that sees the new `below` may still read an older `from`
        // (the loads are relaxed): 0 (unset) or this same value; one that sees the new
        // `from` may still read `below` as 0 and detect again. Either way it copies at
        // least `LONG_COPY` bytes with AVX2 (only where `below` says it is usable) or with
        // SSE, both correct; only the speed differs.
        COPIES_FROM.store(from, Ordering::Relaxed);
        COPIES_BELOW.store(below, Ordering::Relaxed);
        below
    }

    /// Whether CPUID leaf 0's vendor string is "AuthenticAMD" (EBX, EDX, ECX: "Auth",
    /// "enti", "cAMD", little-endian).
    fn is_amd() -> bool {
        // SAFETY: as in `detect`.
        #[allow(unused_unsafe)]
        let leaf_zero = unsafe { core::arch::x86_64::__cpuid(0) };
        (leaf_zero.ebx, leaf_zero.edx, leaf_zero.ecx)
            == (
                u32::from_le_bytes(*b"Auth"),
                u32::from_le_bytes(*b"enti"),
                u32::from_le_bytes(*b"cAMD"),
            )
    }

    /// XCR0, the OS-enabled state components.
    fn xcr0() -> u64 {
        let (low, high): (u32, u32);
        // SAFETY: `xgetbv` is defined when CPUID.1:ECX.OSXSAVE is set, which the only caller
        // checked; it reads a register and touches no memory.
        unsafe {
            asm!(
                "xgetbv",
                in("ecx") 0u32,
                out("eax") low,
                out("edx") high,
                options(nomem, nostack, preserves_flags),
            );
        }
        u64::from(high) << 32 | u64::from(low)
    }

    /// Copies `length` (≥ 32) bytes, the destination's stores 32-byte aligned: 128-byte blocks through four YMM registers,
    /// then 32-byte pieces, then the last 32 bytes of the range once more (overlapping what
    /// was copied; every byte still receives a value its source held), then `vzeroupper`.
    ///
    /// # Safety
    /// As [`super::copy`], with `length ≥ 32`, on a CPU where [`available`] is true.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy(destination: *mut u8, source: *const u8, length: usize) {
        // SAFETY: every access is a 32-byte piece inside `[source, +length)` or
        // `[destination, +length)`: the loops run while 128 (then 32) bytes remain, and the
        // final piece starts at `length − 32 ≥ 0` of both ranges.
        unsafe {
            asm!(
                "lea r8, [rsi + rcx - 32]",
                "lea r9, [rdi + rcx - 32]",
                // The first 32 bytes, then on from the next 32-byte boundary of the
                // destination (stores that straddle cache lines cost most).
                "vmovdqu ymm0, ymmword ptr [rsi]",
                "vmovdqu ymmword ptr [rdi], ymm0",
                "mov rax, rdi",
                "neg rax",
                "and rax, 31",
                "jz 7f",
                "add rsi, rax",
                "add rdi, rax",
                "sub rcx, rax",
                "7:",
                "cmp rcx, 128",
                "jb 3f",
                "2:",
                "vmovdqu ymm0, ymmword ptr [rsi]",
                "vmovdqu ymm1, ymmword ptr [rsi + 32]",
                "vmovdqu ymm2, ymmword ptr [rsi + 64]",
                "vmovdqu ymm3, ymmword ptr [rsi + 96]",
                "vmovdqu ymmword ptr [rdi], ymm0",
                "vmovdqu ymmword ptr [rdi + 32], ymm1",
                "vmovdqu ymmword ptr [rdi + 64], ymm2",
                "vmovdqu ymmword ptr [rdi + 96], ymm3",
                "add rsi, 128",
                "add rdi, 128",
                "sub rcx, 128",
                "cmp rcx, 128",
                "jae 2b",
                "3:",
                "cmp rcx, 32",
                "jb 5f",
                "4:",
                "vmovdqu ymm0, ymmword ptr [rsi]",
                "vmovdqu ymmword ptr [rdi], ymm0",
                "add rsi, 32",
                "add rdi, 32",
                "sub rcx, 32",
                "cmp rcx, 32",
                "jae 4b",
                "5:",
                "test rcx, rcx",
                "jz 6f",
                "vmovdqu ymm0, ymmword ptr [r8]",
                "vmovdqu ymmword ptr [r9], ymm0",
                "6:",
                "vzeroupper",
                inout("rcx") length => _,
                inout("rdi") destination => _,
                inout("rsi") source => _,
                out("rax") _,
                out("r8") _,
                out("r9") _,
                // `vzeroupper` zeroes the upper halves of all vector registers: all are
                // caller-saved, so the C ABI's clobbers cover it.
                clobber_abi("C"),
                options(nostack),
            );
        }
    }
}

/// Copies `length` bytes as 8-byte words, then single bytes.
///
/// # Safety
/// As [`copy`].
#[inline]
#[cfg_attr(not(target_feature = "sse2"), allow(dead_code))]
unsafe fn copy_words_then_bytes(destination: *mut u8, source: *const u8, length: usize) {
    // SAFETY: every access is at `source + i` or `destination + i` with `i < length`.
    unsafe {
        asm!(
            "cmp {length}, 8",
            "jb 5f",
            "4:",
            "mov {word}, qword ptr [{source}]",
            "mov qword ptr [{destination}], {word}",
            "add {source}, 8",
            "add {destination}, 8",
            "sub {length}, 8",
            "cmp {length}, 8",
            "jae 4b",
            "5:",
            "test {length}, {length}",
            "jz 7f",
            "6:",
            "mov {byte}, byte ptr [{source}]",
            "mov byte ptr [{destination}], {byte}",
            "inc {source}",
            "inc {destination}",
            "dec {length}",
            "jnz 6b",
            "7:",
            length = inout(reg) length => _,
            destination = inout(reg) destination => _,
            source = inout(reg) source => _,
            word = out(reg) _,
            byte = out(reg_byte) _,
            options(nostack),
        );
    }
}

/// Copies `buffer.len()` bytes at `offset` of `words` into `buffer`.
#[inline]
pub(super) fn read(
    words: &[AtomicU64],
    offset: usize,
    buffer: &mut [u8],
) -> Result<(), AccessError> {
    check(words, offset, buffer.len())?;
    // SAFETY: the range is inside `words` (checked above).
    unsafe { read_unchecked(self::address(words, offset), buffer) };
    Ok(())
}

/// [`read`] without the range check.
///
/// # Safety
/// `[address, address + buffer.len())` must lie inside a `SharedBytes`' storage.
#[inline]
pub(super) unsafe fn read_unchecked(address: *mut u8, buffer: &mut [u8]) {
    // SAFETY: the range is inside the storage (the caller's contract), whose bytes are only ever
    // accessed through this module; `buffer` is an exclusive borrow of other memory
    // (`SharedBytes` never hands out references to its storage, so it cannot overlap).
    unsafe { copy(buffer.as_mut_ptr(), address, buffer.len()) };
}

/// Copies `data` into `words` at `offset`.
#[inline]
pub(super) fn write(words: &[AtomicU64], offset: usize, data: &[u8]) -> Result<(), AccessError> {
    check(words, offset, data.len())?;
    // SAFETY: the range is inside `words` (checked above).
    unsafe { write_unchecked(self::address(words, offset), data) };
    Ok(())
}

/// [`write`] without the range check.
///
/// # Safety
/// `[address, address + data.len())` must lie inside a `SharedBytes`' storage.
#[inline]
pub(super) unsafe fn write_unchecked(address: *mut u8, data: &[u8]) {
    // SAFETY: as in `read_unchecked`, with the roles swapped; the storage's `UnsafeCell`s
    // allow the write through a shared reference, and `data` (a shared borrow of other
    // memory) is only read.
    unsafe { copy(address, data.as_ptr(), data.len()) };
}

/// Reads the little-endian `u64` at `offset` (any alignment) with one 8-byte load, so a
/// value the caller stored as a whole word is forwarded from the store buffer instead of
/// being reassembled from byte copies.
#[inline]
pub(super) fn read_u64(words: &[AtomicU64], offset: usize) -> Result<u64, AccessError> {
    check(words, offset, 8)?;
    // SAFETY: the 8 bytes are inside `words` (checked above).
    Ok(unsafe { read_u64_unchecked(self::address(words, offset)) })
}

/// [`read_u64`] without the range check.
///
/// # Safety
/// `[address, address + 8)` must lie inside a `SharedBytes`' storage.
#[inline]
pub(super) unsafe fn read_u64_unchecked(address: *mut u8) -> u64 {
    let value: u64;
    // SAFETY: the 8 bytes are inside the storage (the caller's contract); x86-64 allows
    // unaligned loads.
    unsafe {
        asm!(
            "mov {value}, qword ptr [{address}]",
            address = in(reg) address,
            value = out(reg) value,
            options(nostack, preserves_flags),
        );
    }
    value
}

/// Writes `value` as the little-endian `u64` at `offset` (any alignment) with one 8-byte
/// store.
#[inline]
pub(super) fn write_u64(words: &[AtomicU64], offset: usize, value: u64) -> Result<(), AccessError> {
    check(words, offset, 8)?;
    // SAFETY: the 8 bytes are inside `words` (checked above).
    unsafe { write_u64_unchecked(self::address(words, offset), value) };
    Ok(())
}

/// [`write_u64`] without the range check.
///
/// # Safety
/// `[address, address + 8)` must lie inside a `SharedBytes`' storage.
#[inline]
pub(super) unsafe fn write_u64_unchecked(address: *mut u8, value: u64) {
    // SAFETY: as in `read_u64_unchecked`; the store touches only these 8 bytes.
    unsafe {
        asm!(
            "mov qword ptr [{address}], {value}",
            address = in(reg) address,
            value = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
}

/// Reads the little-endian `u128` at `offset` (any alignment).
#[inline]
pub(super) fn read_u128(words: &[AtomicU64], offset: usize) -> Result<u128, AccessError> {
    check(words, offset, 16)?;
    // SAFETY: the 16 bytes are inside `words` (checked above).
    Ok(unsafe { read_u128_unchecked(self::address(words, offset)) })
}

/// Reads the little-endian `u128` at `offset` (any alignment) with one 16-byte SSE load,
/// without the range check.
///
/// # Safety
/// `[address, address + 16)` must lie inside a `SharedBytes`' storage.
#[cfg(target_feature = "sse2")]
#[inline]
pub(super) unsafe fn read_u128_unchecked(address: *mut u8) -> u128 {
    let (low, high): (u64, u64);
    // SAFETY: the 16 bytes are inside the storage (the caller's contract); `movdqu` allows any
    // alignment; the two halves leave through general registers (SSE2 instructions only).
    unsafe {
        asm!(
            "movdqu {vector}, xmmword ptr [{address}]",
            "movq {low}, {vector}",
            "punpckhqdq {vector}, {vector}",
            "movq {high}, {vector}",
            address = in(reg) address,
            vector = out(xmm_reg) _,
            low = out(reg) low,
            high = out(reg) high,
            options(nostack, preserves_flags),
        );
    }
    u128::from(high) << 64 | u128::from(low)
}

/// Reads the little-endian `u128` at `offset` on targets without SSE: two 8-byte loads,
/// without the range check.
///
/// # Safety
/// `[address, address + 16)` must lie inside a `SharedBytes`' storage.
#[cfg(not(target_feature = "sse2"))]
#[inline]
pub(super) unsafe fn read_u128_unchecked(address: *mut u8) -> u128 {
    // SAFETY: both halves are inside the 16 bytes (the caller's contract), so `address + 8`
    // does not wrap.
    let (low, high) = unsafe {
        (
            read_u64_unchecked(address),
            read_u64_unchecked(address.wrapping_add(8)),
        )
    };
    u128::from(high) << 64 | u128::from(low)
}

/// Writes `value` as the little-endian `u128` at `offset` (any alignment).
#[inline]
pub(super) fn write_u128(
    words: &[AtomicU64],
    offset: usize,
    value: u128,
) -> Result<(), AccessError> {
    check(words, offset, 16)?;
    // SAFETY: the 16 bytes are inside `words` (checked above).
    unsafe { write_u128_unchecked(self::address(words, offset), value) };
    Ok(())
}

/// Writes `value` as the little-endian `u128` at `offset` (any alignment) with one 16-byte
/// SSE store, without the range check.
///
/// # Safety
/// `[address, address + 16)` must lie inside a `SharedBytes`' storage.
#[cfg(target_feature = "sse2")]
#[inline]
pub(super) unsafe fn write_u128_unchecked(address: *mut u8, value: u128) {
    // SAFETY: as in `read_u128_unchecked`; the store touches only these 16 bytes.
    unsafe {
        asm!(
            "movq {vector}, {low}",
            "movq {upper}, {high}",
            "punpcklqdq {vector}, {upper}",
            "movdqu xmmword ptr [{address}], {vector}",
            address = in(reg) address,
            vector = out(xmm_reg) _,
            upper = out(xmm_reg) _,
            low = in(reg) value as u64,
            high = in(reg) (value >> 64) as u64,
            options(nostack, preserves_flags),
        );
    }
}

/// Writes the little-endian `u128` at `offset` on targets without SSE: two 8-byte stores,
/// without the range check.
///
/// # Safety
/// `[address, address + 16)` must lie inside a `SharedBytes`' storage.
#[cfg(not(target_feature = "sse2"))]
#[inline]
pub(super) unsafe fn write_u128_unchecked(address: *mut u8, value: u128) {
    // SAFETY: both halves are inside the 16 bytes (the caller's contract).
    unsafe {
        write_u64_unchecked(address, value as u64);
        write_u64_unchecked(address.wrapping_add(8), (value >> 64) as u64);
    }
}

/// Loads the `u32` at `offset` (acquire: an x86-64 load is not reordered with later
/// accesses, and the assembly is a compiler barrier).
#[inline]
pub(super) fn load_u32(words: &[AtomicU64], offset: usize) -> Result<u32, AccessError> {
    check_u32(words, offset)?;
    let value: u32;
    // SAFETY: `offset` is 4-aligned and the 4 bytes are inside `words` (checked above), so
    // the load is in bounds and single-copy atomic.
    unsafe {
        asm!(
            "mov {value:e}, dword ptr [{address}]",
            address = in(reg) address(words, offset),
            value = out(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(value)
}

/// Stores `value` as the `u32` at `offset` (release: an x86-64 store is not reordered with
/// earlier accesses, and the assembly is a compiler barrier).
#[inline]
pub(super) fn store_u32(words: &[AtomicU64], offset: usize, value: u32) -> Result<(), AccessError> {
    check_u32(words, offset)?;
    // SAFETY: as in `load_u32`; the store touches only these 4 bytes.
    unsafe {
        asm!(
            "mov dword ptr [{address}], {value:e}",
            address = in(reg) address(words, offset),
            value = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(())
}

/// Atomically swaps the `u32` at `offset` with `value` (`xchg` with memory is locked: a full
/// barrier).
#[inline]
pub(super) fn swap_u32(words: &[AtomicU64], offset: usize, value: u32) -> Result<u32, AccessError> {
    check_u32(words, offset)?;
    let mut value = value;
    // SAFETY: as in `load_u32`.
    unsafe {
        asm!(
            "xchg dword ptr [{address}], {value:e}",
            address = in(reg) address(words, offset),
            value = inout(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(value)
}

/// Atomically ORs `bits` into the `u32` at `offset` and returns the old value (a `lock
/// cmpxchg` loop: a full barrier).
#[inline]
pub(super) fn fetch_or_u32(
    words: &[AtomicU64],
    offset: usize,
    bits: u32,
) -> Result<u32, AccessError> {
    check_u32(words, offset)?;
    let old: u32;
    // SAFETY: as in `load_u32`; `lock cmpxchg` writes the same 4 bytes it compares.
    unsafe {
        asm!(
            "mov eax, dword ptr [{address}]",
            "2:",
            "mov {new:e}, eax",
            "or {new:e}, {bits:e}",
            "lock cmpxchg dword ptr [{address}], {new:e}",
            "jne 2b",
            address = in(reg) address(words, offset),
            bits = in(reg) bits,
            new = out(reg) _,
            out("eax") old,
            options(nostack),
        );
    }
    Ok(old)
}

#[cfg(all(test, target_feature = "sse2"))]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use alloc::vec::Vec;

    /// Runs `copy` from every source offset to every destination offset (0..8) for every
    /// length up to 300 bytes, on private buffers, against `copy_from_slice`.
    fn matches_a_plain_copy(copy: unsafe fn(*mut u8, *const u8, usize), minimum: usize) {
        let source: Vec<u8> = (0..320u32).map(|index| (index * 7 + 3) as u8).collect();
        for length in minimum..300 {
            for from in 0..8 {
                for to in 0..8 {
                    let mut destination = [0xEEu8; 320];
                    // SAFETY: both ranges are inside their (private, distinct) buffers.
                    unsafe {
                        copy(
                            destination.as_mut_ptr().add(to),
                            source.as_ptr().add(from),
                            length,
                        )
                    };
                    assert_eq!(&destination[to..to + length], &source[from..from + length]);
                    assert!(destination[..to].iter().all(|byte| *byte == 0xEE));
                    assert!(destination[to + length..].iter().all(|byte| *byte == 0xEE));
                }
            }
        }
    }

    #[test]
    fn the_rep_word_copy_matches_a_plain_copy() {
        matches_a_plain_copy(super::copy_rep_words, 0);
    }

    #[test]
    fn the_sse_copy_matches_a_plain_copy() {
        matches_a_plain_copy(super::copy_sse, 0);
    }

    #[test]
    fn the_dispatching_copy_matches_a_plain_copy() {
        // Its 16-to-64-byte branch first, then the others, at every length up to 300.
        matches_a_plain_copy(super::copy, 0);
    }

    /// Runs `copy` for every length in `lengths`, from every source offset in `offsets` to
    /// every destination offset in `offsets` (in 64-byte-aligned buffers, so offsets 0..64
    /// give every alignment), against `copy_from_slice`, and checks that no destination byte
    /// outside the range changed.
    fn matches_a_plain_copy_aligned(
        copy: unsafe fn(*mut u8, *const u8, usize),
        lengths: impl Iterator<Item = usize> + Clone,
        offsets: &[usize],
    ) {
        /// 64-byte-aligned storage.
        #[derive(Clone, Copy)]
        #[repr(C, align(64))]
        struct Line([u8; 64]);
        let longest = lengths.clone().max().unwrap_or(0) + 64;
        let lines = longest.div_ceil(64);
        let mut source = alloc::vec![Line([0; 64]); lines];
        let mut destination = alloc::vec![Line([0xEE; 64]); lines];
        for (index, byte) in source
            .iter_mut()
            .flat_map(|line| line.0.iter_mut())
            .enumerate()
        {
            *byte = (index * 7 + index / 251 + 3) as u8;
        }
        for length in lengths {
            for &from in offsets {
                for &to in offsets {
                    let source = source.as_ptr().cast::<u8>();
                    let destination = destination.as_mut_ptr().cast::<u8>();
                    // SAFETY: both ranges are inside their (private, distinct) buffers:
                    // offsets below 64 and `64 + length ≤ 64 · lines`; the slices below are
                    // made after the copy, over initialised bytes of those buffers.
                    let (copied, original) = unsafe {
                        copy(destination.add(to), source.add(from), length);
                        (
                            core::slice::from_raw_parts(destination, lines * 64),
                            core::slice::from_raw_parts(source, lines * 64),
                        )
                    };
                    assert_eq!(
                        &copied[to..to + length],
                        &original[from..from + length],
                        "length {length}, from {from}, to {to}"
                    );
                    assert!(copied[..to].iter().all(|byte| *byte == 0xEE));
                    assert!(copied[to + length..].iter().all(|byte| *byte == 0xEE));
                    // SAFETY: the destination buffer, private to this test.
                    unsafe { core::ptr::write_bytes(destination, 0xEE, lines * 64) };
                }
            }
        }
    }

    /// Every offset 0..64.
    fn every_offset() -> Vec<usize> {
        (0..64).collect()
    }

    #[test]
    fn the_dispatching_copy_matches_a_plain_copy_at_every_alignment() {
        matches_a_plain_copy_aligned(super::copy, 0..=300, &every_offset());
    }

    #[test]
    fn long_copies_match_a_plain_copy_at_every_alignment_either_side_of_each_threshold() {
        // `LONG_COPY` and `AVX_FROM_ON_AMD`, `AVX_FROM`, a 1 KiB payload, the SSE/`rep movsb`
        // threshold without AVX2, and the `rep movsb` thresholds with AVX2 (others; AMD).
        let lengths = [
            255, 256, 257, 511, 512, 513, 1024, 1048, 2047, 2048, 2049, 8191, 8192, 8193,
        ];
        matches_a_plain_copy_aligned(super::copy, lengths.into_iter(), &every_offset());
        let amd = super::REP_MOVSB_THRESHOLD_WITH_AVX_ON_AMD;
        let lengths = [16 * 1024, amd - 1, amd, amd + 1];
        matches_a_plain_copy_aligned(super::copy, lengths.into_iter(), &[0, 8, 16, 24, 33]);
    }

    #[test]
    fn the_detecting_long_copy_matches_a_plain_copy() {
        // The path of the first long copy in a process (detection, then the copy).
        let lengths = [256, 512, 1048, 8192, 20_000];
        matches_a_plain_copy_aligned(super::copy_long_detecting, lengths.into_iter(), &[0, 8]);
    }

    #[test]
    fn the_avx_copy_matches_a_plain_copy_where_the_cpu_has_it() {
        if super::avx::available() {
            /// The AVX copy behind a plain `unsafe fn` pointer type.
            unsafe fn copy(destination: *mut u8, source: *const u8, length: usize) {
                // SAFETY: the caller's ranges are valid; AVX is available (checked above).
                unsafe { super::avx::copy(destination, source, length) }
            }
            matches_a_plain_copy(copy, 32);
        }
    }
}
