//! The Linux x86-64 system calls a static C library (Debian's musl 1.2.3) needs for printf,
//! malloc, threads and clocks, served for every process beside the dxgos calls (which live at
//! `userlib::sys::DXGOS_SYSCALL_BASE` and up, so the numbers cannot collide).
//!
//! Convention, as Linux's: number in `rax`, arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`,
//! `r9`; the result in `rax`, a negative errno on failure. Every argument is checked (the app
//! is untrusted): user pointers through the address space's validated copies (`-EFAULT`),
//! lengths and counts against bounds, flags against the values served (`-EINVAL`, `-ENOSYS`).
//! What is served and what is not is listed in docs/d3dkmt.md ("Process runtime").
//!
//! Blocking calls (futex waits, sleeps) end early when the thread is interrupted (a kill or the
//! end of its process): they return `-EINTR`, and the thread ends before ring 3.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::memory::PAGE_SIZE;
use super::{ProcessState, Thread, lock_or_yield};
use crate::arch::address_space::{AddressSpace, USER_END, UserPageAccess};
use crate::task;

/// Linux errno values (`asm-generic/errno-base.h`, `errno.h`).
mod errno {
    pub const EINTR: i64 = 4;
    pub const EBADF: i64 = 9;
    pub const EAGAIN: i64 = 11;
    pub const ENOMEM: i64 = 12;
    pub const EFAULT: i64 = 14;
    pub const EINVAL: i64 = 22;
    pub const ENOTTY: i64 = 25;
    pub const ENOSYS: i64 = 38;
    pub const ETIMEDOUT: i64 = 110;
}
use errno::*;

/// Linux x86-64 syscall numbers (`arch/x86/entry/syscalls/syscall_64.tbl`).
mod number {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const CLOSE: u64 = 3;
    pub const MMAP: u64 = 9;
    pub const MPROTECT: u64 = 10;
    pub const MUNMAP: u64 = 11;
    pub const BRK: u64 = 12;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const IOCTL: u64 = 16;
    pub const WRITEV: u64 = 20;
    pub const SCHED_YIELD: u64 = 24;
    pub const MADVISE: u64 = 28;
    pub const NANOSLEEP: u64 = 35;
    pub const GETPID: u64 = 39;
    pub const CLONE: u64 = 56;
    pub const EXIT: u64 = 60;
    pub const ARCH_PRCTL: u64 = 158;
    pub const GETTID: u64 = 186;
    pub const TKILL: u64 = 200;
    pub const FUTEX: u64 = 202;
    pub const SET_TID_ADDRESS: u64 = 218;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const CLOCK_GETRES: u64 = 229;
    pub const CLOCK_NANOSLEEP: u64 = 230;
    pub const EXIT_GROUP: u64 = 231;
    pub const TGKILL: u64 = 234;
}

/// What the thread does after a Linux system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinuxOutcome {
    /// Resume ring 3 with this `rax`.
    Return(i64),
    /// `exit`: end this thread with the code.
    ExitThread(i32),
    /// `exit_group` (or a fatal signal sent to itself): end the process with the code.
    ExitGroup(i32),
}

use LinuxOutcome::Return;

/// The most bytes one `write`/`writev` copies (longer writes are cut; the count says so).
const MAX_WRITE: usize = crate::syscall::MAX_CONSOLE_WRITE;
/// The most `iovec`s a `writev` takes (Linux's `UIO_MAXIOV`).
const MAX_IOVECS: u64 = 1024;
/// The most threads a process may have at once.
pub(super) const MAX_THREADS: usize = 64;

/// Serves Linux system call `registers.rax` for `thread` of `state`.
pub(super) fn dispatch(state: &Arc<ProcessState>, thread: &mut Thread) -> LinuxOutcome {
    let registers = thread.registers;
    let arguments = [
        registers.rdi,
        registers.rsi,
        registers.rdx,
        registers.r10,
        registers.r8,
        registers.r9,
    ];
    match registers.rax {
        number::READ => Return(if arguments[0] == 0 { 0 } else { -EBADF }),
        number::WRITE => write(state, arguments[0], arguments[1], arguments[2]),
        number::WRITEV => writev(state, arguments[0], arguments[1], arguments[2]),
        number::CLOSE => Return(if arguments[0] <= 2 { 0 } else { -EBADF }),
        number::IOCTL => Return(if arguments[0] <= 2 { -ENOTTY } else { -EBADF }),
        number::MMAP => mmap(state, arguments),
        number::MUNMAP => munmap(state, arguments[0], arguments[1]),
        number::MPROTECT => mprotect(state, arguments[0], arguments[1], arguments[2]),
        // No program break: musl's malloc then takes its memory from mmap.
        number::BRK => Return(0),
        number::MADVISE => Return(0),
        number::RT_SIGACTION => signal_action(state, arguments[2], arguments[3]),
        number::RT_SIGPROCMASK => signal_mask(state, arguments[2], arguments[3]),
        number::SCHED_YIELD => {
            task::yield_now();
            Return(0)
        }
        number::GETPID => Return(state.id.0 as i64),
        number::GETTID => Return(thread.id as i64),
        number::SET_TID_ADDRESS => {
            thread.clear_child_tid = arguments[0];
            Return(thread.id as i64)
        }
        number::ARCH_PRCTL => arch_prctl(state, thread, arguments[0], arguments[1]),
        number::CLOCK_GETTIME => clock_gettime(state, arguments[0], arguments[1]),
        number::CLOCK_GETRES => clock_getres(state, arguments[0], arguments[1]),
        number::NANOSLEEP => nanosleep(state, 1, 0, arguments[0]),
        number::CLOCK_NANOSLEEP => nanosleep(state, arguments[0], arguments[1], arguments[2]),
        number::FUTEX => super::futex::call(state, arguments),
        number::CLONE => super::clone_thread(state, thread, arguments),
        number::EXIT => LinuxOutcome::ExitThread(arguments[0] as u32 as i32),
        number::EXIT_GROUP => LinuxOutcome::ExitGroup(arguments[0] as u32 as i32),
        number::TKILL => signal_self(state, thread, arguments[0], arguments[1]),
        number::TGKILL if arguments[0] == state.id.0 => {
            signal_self(state, thread, arguments[1], arguments[2])
        }
        number::TGKILL => Return(-EINVAL),
        _ => Return(-ENOSYS),
    }
}

/// Runs `body` with the process's address space (yielding while another thread holds it).
fn with_space<R>(
    state: &ProcessState,
    body: impl FnOnce(&mut AddressSpace) -> Result<R, i64>,
) -> Result<R, i64> {
    let mut capabilities = lock_or_yield(&state.capabilities).map_err(|_| EINTR)?;
    let space = capabilities.space.as_mut().ok_or(EFAULT)?;
    body(space)
}

fn read_u64(space: &AddressSpace, address: u64) -> Result<u64, i64> {
    let mut bytes = [0u8; 8];
    space.read(address, &mut bytes).map_err(|_| EFAULT)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Reads a `struct timespec` (`tv_sec`, `tv_nsec`, two 64-bit fields) as nanoseconds;
/// `-EINVAL` for a negative or out-of-range value.
fn read_timespec(space: &AddressSpace, address: u64) -> Result<u64, i64> {
    let seconds = read_u64(space, address)? as i64;
    let nanoseconds = read_u64(space, address.checked_add(8).ok_or(EFAULT)?)? as i64;
    if seconds < 0 || !(0..1_000_000_000).contains(&nanoseconds) {
        return Err(EINVAL);
    }
    Ok((seconds as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nanoseconds as u64))
}

fn write_timespec(space: &AddressSpace, address: u64, nanoseconds: u64) -> Result<(), i64> {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(nanoseconds / 1_000_000_000).to_le_bytes());
    bytes[8..].copy_from_slice(&(nanoseconds % 1_000_000_000).to_le_bytes());
    space.write(address, &bytes).map_err(|_| EFAULT)
}

fn outcome(result: Result<i64, i64>) -> LinuxOutcome {
    Return(result.unwrap_or_else(|errno| -errno))
}

/// Console output of file descriptors 1 and 2 (the kernel console, and the capture).
fn console(state: &ProcessState, bytes: &[u8]) {
    let text = alloc::string::String::from_utf8_lossy(bytes);
    crate::serial::write_str(&text);
    if let Some(console) = state.console.as_ref() {
        console.lock().push_str(&text);
    }
}

fn write(state: &ProcessState, descriptor: u64, address: u64, length: u64) -> LinuxOutcome {
    if descriptor != 1 && descriptor != 2 {
        return Return(-EBADF);
    }
    let length = (length as usize).min(MAX_WRITE);
    let mut bytes = vec![0u8; length];
    let copied = with_space(state, |space| {
        space.read(address, &mut bytes).map_err(|_| EFAULT)
    });
    outcome(copied.map(|()| {
        console(state, &bytes);
        length as i64
    }))
}

fn writev(state: &ProcessState, descriptor: u64, vectors: u64, count: u64) -> LinuxOutcome {
    if descriptor != 1 && descriptor != 2 {
        return Return(-EBADF);
    }
    if count > MAX_IOVECS {
        return Return(-EINVAL);
    }
    let gathered = with_space(state, |space| {
        let mut bytes = Vec::new();
        for index in 0..count {
            let entry = vectors.checked_add(index * 16).ok_or(EFAULT)?;
            let base = read_u64(space, entry)?;
            let length = read_u64(space, entry.checked_add(8).ok_or(EFAULT)?)? as usize;
            let room = MAX_WRITE - bytes.len();
            let take = length.min(room);
            let start = bytes.len();
            bytes.resize(start + take, 0);
            space.read(base, &mut bytes[start..]).map_err(|_| EFAULT)?;
            if take < length {
                break;
            }
        }
        Ok(bytes)
    });
    outcome(gathered.map(|bytes| {
        console(state, &bytes);
        bytes.len() as i64
    }))
}

/// `PROT_*` → page access (`PROT_NONE` is `None`); `-EINVAL` for unknown bits.
fn protection(prot: u64) -> Result<Option<UserPageAccess>, i64> {
    const PROT_READ: u64 = 1;
    const PROT_WRITE: u64 = 2;
    const PROT_EXEC: u64 = 4;
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return Err(EINVAL);
    }
    Ok((prot != 0).then_some(UserPageAccess {
        writable: prot & PROT_WRITE != 0,
        executable: prot & PROT_EXEC != 0,
    }))
}

/// Unmaps the owned pages of `[start, start + length)`.
fn unmap_pages(space: &mut AddressSpace, start: u64, length: u64) {
    let mut page = start;
    while page < start + length {
        space.unmap_owned(page);
        page += PAGE_SIZE;
    }
}

/// `mmap(addr, length, prot, flags, fd, offset)`: private anonymous memory only, placed by the
/// kernel (the hint is ignored; `MAP_FIXED` is refused), zero-filled and mapped at once.
fn mmap(state: &ProcessState, arguments: [u64; 6]) -> LinuxOutcome {
    const MAP_SHARED: u64 = 0x01;
    const MAP_PRIVATE: u64 = 0x02;
    const MAP_FIXED: u64 = 0x10;
    const MAP_ANONYMOUS: u64 = 0x20;
    /// Accepted and without effect here: MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE,
    /// MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK.
    const MAP_IGNORED: u64 = 0x100 | 0x800 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000;
    let [_hint, length, prot, flags, _descriptor, offset] = arguments;
    let access = match protection(prot) {
        Ok(access) => access,
        Err(errno) => return Return(-errno),
    };
    if flags & (MAP_SHARED | MAP_PRIVATE) != MAP_PRIVATE
        || flags & MAP_ANONYMOUS == 0
        || flags & MAP_FIXED != 0
        || flags & !(MAP_PRIVATE | MAP_ANONYMOUS | MAP_IGNORED) != 0
        || offset != 0
    {
        return Return(-EINVAL);
    }
    let Some(length) = length
        .checked_add(PAGE_SIZE - 1)
        .map(|length| length & !(PAGE_SIZE - 1))
        .filter(|&length| length != 0)
    else {
        return Return(-EINVAL);
    };
    let mut memory = match lock_or_yield(&state.memory) {
        Ok(memory) => memory,
        Err(_) => return Return(-EINTR),
    };
    let Some(start) = memory.reserve(length) else {
        return Return(-ENOMEM);
    };
    let mapped = with_space(state, |space| {
        let Some(access) = access else {
            return Ok(start as i64);
        };
        let mut page = start;
        while page < start + length {
            if space.map_zeroed(page, access).is_err() {
                unmap_pages(space, start, page - start);
                return Err(ENOMEM);
            }
            page += PAGE_SIZE;
        }
        Ok(start as i64)
    });
    if mapped.is_err() {
        memory.release(start, length);
    }
    outcome(mapped)
}

/// Checks a page-aligned `[address, address + length)` with non-zero length inside the user
/// half; returns the length rounded up to pages.
fn page_range(address: u64, length: u64) -> Result<u64, i64> {
    let length = length.checked_add(PAGE_SIZE - 1).ok_or(EINVAL)? & !(PAGE_SIZE - 1);
    if !address.is_multiple_of(PAGE_SIZE)
        || length == 0
        || address.checked_add(length).is_none_or(|end| end > USER_END)
    {
        return Err(EINVAL);
    }
    Ok(length)
}

/// `munmap`: releases what `mmap` reserved in the range (other pages, such as the executable
/// or the stack, are never touched).
fn munmap(state: &ProcessState, address: u64, length: u64) -> LinuxOutcome {
    let length = match page_range(address, length) {
        Ok(length) => length,
        Err(errno) => return Return(-errno),
    };
    let mut memory = match lock_or_yield(&state.memory) {
        Ok(memory) => memory,
        Err(_) => return Return(-EINTR),
    };
    let released = memory.release(address, length);
    outcome(with_space(state, |space| {
        for (start, length) in released {
            unmap_pages(space, start, length);
        }
        Ok(0)
    }))
}

/// `mprotect` on memory `mmap` reserved: sets the access of the pages present, keeping their
/// contents (`PROT_NONE` too, as on Linux: ring 3 then faults on them and system calls given
/// them fail with `EFAULT`; a page of zeros not lent to the GPU is freed instead, as nothing is
/// lost); other values than `PROT_NONE` map missing pages zero-filled.
fn mprotect(state: &ProcessState, address: u64, length: u64, prot: u64) -> LinuxOutcome {
    let (length, access) = match page_range(address, length)
        .and_then(|length| protection(prot).map(|access| (length, access)))
    {
        Ok(checked) => checked,
        Err(errno) => return Return(-errno),
    };
    let memory = match lock_or_yield(&state.memory) {
        Ok(memory) => memory,
        Err(_) => return Return(-EINTR),
    };
    if !memory.covers(address, length) {
        return Return(-ENOMEM);
    }
    outcome(with_space(state, |space| {
        let mut page = address;
        while page < address + length {
            match access {
                // A page of zeros goes with its frame and comes back zeroed; a page never
                // mapped stays so (nothing to keep either way).
                None => {
                    if !space.unmap_owned_if_zero(page) {
                        let _ = space.set_owned_access(page, None);
                    }
                }
                Some(access) => {
                    if space.set_owned_access(page, Some(access)).is_err() {
                        space.map_zeroed(page, access).map_err(|_| ENOMEM)?;
                    }
                }
            }
            page += PAGE_SIZE;
        }
        Ok(0)
    }))
}

/// `rt_sigaction`: signals are not delivered; the old action reads as `SIG_DFL` (all zero,
/// `sizeof(struct sigaction)` = 32 with an 8-byte mask) and the new one is ignored.
fn signal_action(state: &ProcessState, old: u64, mask_size: u64) -> LinuxOutcome {
    if mask_size != 8 {
        return Return(-EINVAL);
    }
    zero_fill(state, old, 32)
}

/// `rt_sigprocmask`: the old mask reads as empty; the new one is ignored.
fn signal_mask(state: &ProcessState, old: u64, mask_size: u64) -> LinuxOutcome {
    if mask_size != 8 {
        return Return(-EINVAL);
    }
    zero_fill(state, old, 8)
}

fn zero_fill(state: &ProcessState, address: u64, length: usize) -> LinuxOutcome {
    if address == 0 {
        return Return(0);
    }
    outcome(with_space(state, |space| {
        space
            .write(address, &vec![0u8; length])
            .map_err(|_| EFAULT)
            .map(|()| 0)
    }))
}

/// `tkill`/`tgkill` to a thread of this process: signals are not delivered, so a signal the
/// default action of which ends the process (abort's SIGABRT, raise) ends it with exit code
/// 128 + signal; signal 0 (the existence probe) succeeds.
fn signal_self(state: &ProcessState, thread: &Thread, target: u64, signal: u64) -> LinuxOutcome {
    if target != thread.id && !super::thread_exists(state, target) {
        return Return(-EINVAL);
    }
    match signal {
        0 => Return(0),
        1..=64 => LinuxOutcome::ExitGroup(128 + signal as i32),
        _ => Return(-EINVAL),
    }
}

fn arch_prctl(state: &ProcessState, thread: &mut Thread, code: u64, address: u64) -> LinuxOutcome {
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    match code {
        ARCH_SET_FS if address < USER_END => {
            thread.fs_base = address;
            Return(0)
        }
        ARCH_SET_FS => Return(-EINVAL),
        ARCH_GET_FS => {
            let base = thread.fs_base;
            outcome(with_space(state, |space| {
                space
                    .write(address, &base.to_le_bytes())
                    .map_err(|_| EFAULT)
                    .map(|()| 0)
            }))
        }
        _ => Return(-EINVAL),
    }
}

/// Linux clock ids: REALTIME 0, MONOTONIC 1, MONOTONIC_RAW 4, REALTIME_COARSE 5,
/// MONOTONIC_COARSE 6, BOOTTIME 7. The CPU-time clocks are not served.
fn clock_now(clock: u64) -> Result<u64, i64> {
    match clock {
        0 | 5 => Ok(crate::clock::wall_clock_nanoseconds()
            .unwrap_or_else(crate::clock::nanoseconds_since_boot)),
        1 | 4 | 6 | 7 => Ok(crate::clock::nanoseconds_since_boot()),
        _ => Err(EINVAL),
    }
}

fn clock_gettime(state: &ProcessState, clock: u64, address: u64) -> LinuxOutcome {
    let now = match clock_now(clock) {
        Ok(now) => now,
        Err(errno) => return Return(-errno),
    };
    outcome(with_space(state, |space| {
        write_timespec(space, address, now).map(|()| 0)
    }))
}

/// The clocks' resolution: one nanosecond (they are read from the TSC).
fn clock_getres(state: &ProcessState, clock: u64, address: u64) -> LinuxOutcome {
    if let Err(errno) = clock_now(clock) {
        return Return(-errno);
    }
    if address == 0 {
        return Return(0);
    }
    outcome(with_space(state, |space| {
        write_timespec(space, address, 1).map(|()| 0)
    }))
}

/// `nanosleep(req, rem)` and `clock_nanosleep(clock, flags, req, rem)`: relative sleeps on the
/// monotonic clock; `TIMER_ABSTIME` (flags 1) sleeps until `clock` reaches `req`. Sleeps at
/// least the time asked on the monotonic clock; `-EINTR` when interrupted.
fn nanosleep(state: &ProcessState, clock: u64, flags: u64, request: u64) -> LinuxOutcome {
    const TIMER_ABSTIME: u64 = 1;
    // Relative sleeps run on the monotonic clock whatever the clock (as Linux's).
    let clock = if flags & TIMER_ABSTIME != 0 { clock } else { 1 };
    if flags & !TIMER_ABSTIME != 0 || clock_now(clock).is_err() {
        return Return(-EINVAL);
    }
    let requested = match with_space(state, |space| read_timespec(space, request)) {
        Ok(nanoseconds) => nanoseconds,
        Err(errno) => return Return(-errno),
    };
    let now = clock_now(clock).unwrap_or(0);
    let target = if flags & TIMER_ABSTIME != 0 {
        requested
    } else {
        now.saturating_add(requested)
    };
    // The timer's ticks and the TSC-based clock differ by up to a tick: sleep until the clock
    // itself has reached the target, so the time asked for has passed on the clock the program
    // reads.
    loop {
        let now = clock_now(clock).unwrap_or(u64::MAX);
        if now >= target {
            return Return(0);
        }
        let milliseconds = (target - now).div_ceil(1_000_000);
        if task::sleep_milliseconds_interruptible(milliseconds).is_err() {
            return Return(-EINTR);
        }
    }
}

/// Reads the `struct timespec` at `address` as nanoseconds (futex timeouts).
pub(super) fn read_timespec_at(state: &ProcessState, address: u64) -> Result<u64, i64> {
    with_space(state, |space| read_timespec(space, address))
}

/// Reads the `u32` at `address` (futexes, tid words).
pub(super) fn read_u32(state: &ProcessState, address: u64) -> Result<u32, i64> {
    with_space(state, |space| {
        let mut bytes = [0u8; 4];
        space.read(address, &mut bytes).map_err(|_| EFAULT)?;
        Ok(u32::from_le_bytes(bytes))
    })
}

/// Writes the `u32` at `address` (tid words).
pub(super) fn write_u32(state: &ProcessState, address: u64, value: u32) -> Result<(), i64> {
    with_space(state, |space| {
        space
            .write(address, &value.to_le_bytes())
            .map_err(|_| EFAULT)
    })
}

/// The errno values other modules of `process` return.
pub(super) mod errors {
    pub use super::errno::{EAGAIN, EFAULT, EINTR, EINVAL, ENOSYS, ETIMEDOUT};
}
