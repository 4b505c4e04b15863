//! The dxgos demo application: a user process that renders a Mandelbrot image on the GPU
//! through D3DKMT (userlib's safe API), checks it pixel for pixel against the same image
//! computed on the CPU, and shows it on the framebuffer.
//!
//! Steps: enumerate adapters → device → context → allocation → monitored fence (its value page
//! is mapped read-only into this process) → submit the vGPU command stream
//! (`docs/vgpu-command-processor.md`: MANDELBROT into the allocation) and a GPU signal of the
//! fence → wait on the fence from the CPU → lock the allocation (mapped into this process) →
//! FNV-1a checksum against the CPU image → draw it centred on the framebuffer.
//!
//! The spawn argument (`rdi`) selects the mode (low byte) and an iteration limit (byte 1, 0 =
//! the default 48):
//!
//! | mode | behaviour | expected end |
//! |---|---|---|
//! | 0 | the demo, drawn on the framebuffer | exit 0 |
//! | 1 | the demo without the framebuffer (several at once in tests) | exit 0 |
//! | 2 | submits renders in a loop forever (the kill test) | killed by the kernel |
//! | 3 | writes to its read-only fence page | killed: page fault |
//!
//! Failures exit with the step's code (10 + step) after printing what went wrong.
//!
//! Adapter removal (issue 14): when a call answers `STATUS_DEVICE_REMOVED`
//! ([`D3dkmtError::DeviceRemoved`]; the kernel's dxg driver was restarted under the demo),
//! every object of the old adapter is dropped and the demo opens the adapter again the way a
//! D3D runtime does after device removal: enumerate the adapters, open the same LUID with
//! OpenAdapterFromLuid (the first adapter if that LUID is gone), create the device, context,
//! allocation and fence again, and render again. It does so at most [`REOPEN_ATTEMPTS`] times,
//! waiting [`REOPEN_PAUSE`] before each (the driver needs a moment to come back), and says so
//! on its console: `gpu-demo: adapter removed during <step>; opening it again (attempt i of n)`.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

use userlib::abi::LUID;
use userlib::gpu::{Adapter, Allocation, Context, D3dkmtError, SyncObject};
use userlib::sys::{Native, process};
use userlib::vgpu::{Fnv1a, Surface, image_checksum, mandelbrot_packet, mandelbrot_pixel};
use userlib::{abi, println};

/// Width of the image in pixels.
const WIDTH: u32 = 256;
/// Height of the image in pixels.
const HEIGHT: u32 = 192;
/// Default Mandelbrot iteration limit.
const DEFAULT_ITERATIONS: u32 = 48;
/// Bytes per row.
const PITCH: u32 = WIDTH * 4;
/// How long the CPU waits for the GPU, at most.
const WAIT: core::time::Duration = core::time::Duration::from_secs(10);
/// How many times the demo opens the adapter again after it was removed (with
/// [`REOPEN_PAUSE`], the kernel's dxg driver has 10 s to come back: generous for a restart
/// under QEMU without acceleration).
const REOPEN_ATTEMPTS: u32 = 10;
/// How long the demo waits before each re-open (microseconds).
const REOPEN_PAUSE: u64 = 1_000_000;

/// The entry point: `argument` is the value the kernel was asked to pass.
// SAFETY: `_start` is the entry symbol the linker makes the ELF entry point (the kernel starts
// the process there); nothing else linked into this program (userlib, core, compiler_builtins)
// defines a `_start`, so the unmangled name clashes with no other symbol.
#[unsafe(no_mangle)]
pub extern "C" fn _start(argument: u64) -> ! {
    let mode = argument & 0xff;
    let iterations = match (argument >> 8) & 0xff {
        0 => DEFAULT_ITERATIONS,
        limit => limit as u32,
    };
    let code = match run(mode, iterations) {
        Ok(()) => 0,
        Err((step, error)) => {
            println!("gpu-demo: {step} failed: {error:?}");
            10 + step_code(step)
        }
    };
    exit(code)
}

fn exit(code: i32) -> ! {
    process::exit_now(code)
}

type Step = &'static str;

fn step_code(step: Step) -> i32 {
    const STEPS: [Step; 12] = [
        "enumerate adapters",
        "create device",
        "create context",
        "create allocation",
        "create fence",
        "submit",
        "wait",
        "lock",
        "verify",
        "framebuffer",
        "fence page",
        "query adapter",
    ];
    STEPS
        .iter()
        .position(|candidate| *candidate == step)
        .map_or(99, |index| index as i32)
}

fn at<T>(step: Step, result: Result<T, D3dkmtError>) -> Result<T, (Step, D3dkmtError)> {
    result.map_err(|error| (step, error))
}

/// Runs the demo, opening the adapter again (at most [`REOPEN_ATTEMPTS`] times) whenever a
/// call says it was removed.
fn run(mode: u64, iterations: u32) -> Result<(), (Step, D3dkmtError)> {
    let mut luid = None;
    let mut attempt = 0;
    loop {
        match session(mode, iterations, &mut luid) {
            Err((step, error)) if should_reopen(error, attempt) => {
                attempt += 1;
                println!(
                    "gpu-demo: adapter removed during {step}; opening it again (attempt {attempt} of {REOPEN_ATTEMPTS})"
                );
                process::sleep(&Native, REOPEN_PAUSE);
            }
            Err((step, D3dkmtError::DeviceRemoved)) => {
                println!(
                    "gpu-demo: adapter removed during {step}; giving up after {attempt} re-opens"
                );
                return Err((step, D3dkmtError::DeviceRemoved));
            }
            other => {
                if attempt > 0 && other.is_ok() {
                    println!("gpu-demo: rendered again after {attempt} re-open(s)");
                }
                return other;
            }
        }
    }
}

/// Whether a failure is an adapter removal the demo recovers from by opening it again: the
/// removal itself, or (while re-opening) an adapter not back yet.
fn should_reopen(error: D3dkmtError, attempt: u32) -> bool {
    if attempt >= REOPEN_ATTEMPTS {
        return false;
    }
    match error {
        D3dkmtError::DeviceRemoved => true,
        D3dkmtError::NotFound | D3dkmtError::InvalidHandle => attempt > 0,
        _ => false,
    }
}

/// Opens the adapter: the first one enumerated, or (after a removal) the one with `luid`
/// through OpenAdapterFromLuid, enumerating first as a D3D runtime does.
/// Also returns how many adapters were enumerated.
fn open_adapter(
    luid: &mut Option<LUID>,
) -> Result<(Adapter<'static, Native>, usize), (Step, D3dkmtError)> {
    let mut adapters = at("enumerate adapters", Adapter::enumerate(&Native))?;
    let count = adapters.len();
    let listed = |wanted: LUID| {
        adapters.iter().any(|adapter| {
            let found = adapter.luid();
            (found.LowPart, found.HighPart) == (wanted.LowPart, wanted.HighPart)
        })
    };
    let wanted = match *luid {
        Some(known) if listed(known) => Some(known),
        Some(_) => {
            println!("gpu-demo: the adapter came back with another LUID; taking the first");
            None
        }
        None => None,
    };
    let adapter = match wanted {
        Some(known) => {
            drop(adapters);
            at("enumerate adapters", Adapter::open(&Native, known))?
        }
        None => adapters
            .take(0)
            .ok_or(("enumerate adapters", D3dkmtError::NotFound))?,
    };
    *luid = Some(adapter.luid());
    Ok((adapter, count))
}

/// One session on one opening of the adapter.
fn session(mode: u64, iterations: u32, luid: &mut Option<LUID>) -> Result<(), (Step, D3dkmtError)> {
    let (adapter, adapters) = open_adapter(luid)?;
    let LUID {
        LowPart: low,
        HighPart: high,
    } = adapter.luid();
    let adapter_type = at("query adapter", adapter.adapter_type())?;
    println!(
        "gpu-demo: adapter LUID {high:#x}:{low:#x}, type flags {adapter_type:#x}, {adapters} adapter(s)"
    );
    let device = at("create device", adapter.create_device())?;
    let context = at("create context", device.create_context())?;
    let size = u64::from(PITCH * HEIGHT);
    let mut surface = at("create allocation", device.create_allocation(size))?;
    let fence = at("create fence", device.create_sync_object())?;
    match mode {
        2 => submit_forever(&context, &surface, &fence, iterations),
        3 => {
            println!("gpu-demo: writing to the read-only fence page");
            // SAFETY: deliberately not safe: the kernel maps the fence page read-only, so this
            // write faults and the kernel kills the process (the test expects exactly that).
            unsafe { core::ptr::write_volatile(fence.cpu_virtual_address() as *mut u64, 7) };
            Err(("fence page", D3dkmtError::InvalidReply))
        }
        _ => {
            render(&context, &surface, &fence, iterations, 1)?;
            let fence_value = fence.current_value().unwrap_or(0);
            if fence_value < 1 {
                println!("gpu-demo: the fence page reads {fence_value} after the wait");
                return Err(("fence page", D3dkmtError::InvalidReply));
            }
            let mapping = at("lock", surface.lock())?;
            let checksum = Fnv1a::of(&mapping);
            let expected = expected_checksum(iterations);
            if checksum != expected {
                println!("gpu-demo: checksum {checksum:#018x}, expected {expected:#018x}");
                return Err(("verify", D3dkmtError::InvalidReply));
            }
            println!(
                "gpu-demo: rendered {WIDTH}x{HEIGHT} Mandelbrot ({iterations} iterations) on the GPU, \
                 checksum {checksum:#018x} verified against the CPU; fence page reads {fence_value}"
            );
            if mode == 0 {
                show(&mapping)?;
            }
            Ok(())
        }
    }
}

/// The MANDELBROT packet into `surface`, then a GPU signal of `fence` to `value`, then a CPU
/// wait for it.
fn render(
    context: &Context<'_, Native>,
    surface: &Allocation<'_, Native>,
    fence: &SyncObject<'_, Native>,
    iterations: u32,
    value: u64,
) -> Result<(), (Step, D3dkmtError)> {
    let target = Surface {
        allocation: surface.handle(),
        offset: 0,
        width: WIDTH,
        height: HEIGHT,
        pitch: PITCH,
    };
    let stream = mandelbrot_packet(target, iterations);
    at("submit", context.submit(&stream, (fence, value)))?;
    at("wait", fence.wait_cpu(value, Some(WAIT)))
}

fn submit_forever(
    context: &Context<'_, Native>,
    surface: &Allocation<'_, Native>,
    fence: &SyncObject<'_, Native>,
    iterations: u32,
) -> Result<(), (Step, D3dkmtError)> {
    println!("gpu-demo: submitting renders until killed");
    let mut value = 1;
    loop {
        render(context, surface, fence, iterations, value)?;
        value += 1;
    }
}

/// Draws the image centred on the framebuffer, scaled by the largest integer factor that fits.
fn show(pixels: &[u8]) -> Result<(), (Step, D3dkmtError)> {
    let mut info = abi::DXGOS_FRAMEBUFFER_INFO::default();
    userlib::gpu::check(process::framebuffer(&Native, true, &mut info))
        .map_err(|error| ("framebuffer", error))?;
    let (width, height, pitch) = (info.Width, info.Height, info.Pitch);
    let scale = (width / WIDTH).min(height / HEIGHT);
    let last_byte = u64::from(height.saturating_sub(1)) * u64::from(pitch) + u64::from(width) * 4;
    if info.Address == 0 || scale == 0 || pitch < width * 4 || last_byte > info.Size {
        println!("gpu-demo: framebuffer {width}x{height} (pitch {pitch}) cannot show the image");
        return Err(("framebuffer", D3dkmtError::InvalidReply));
    }
    let left = (width - WIDTH * scale) / 2;
    let top = (height - HEIGHT * scale) / 2;
    let swap_red_blue = info.Format != 1;
    for y in 0..HEIGHT * scale {
        for x in 0..WIDTH * scale {
            let source = (((y / scale) * WIDTH + x / scale) * 4) as usize;
            let [blue, green, red, _] = [
                pixels[source],
                pixels[source + 1],
                pixels[source + 2],
                pixels[source + 3],
            ];
            let value = if swap_red_blue {
                u32::from_le_bytes([red, green, blue, 0])
            } else {
                u32::from_le_bytes([blue, green, red, 0])
            };
            let offset = u64::from(top + y) * u64::from(pitch) + u64::from(left + x) * 4;
            // SAFETY: MapFramebuffer mapped `Size` writable bytes at `Address` for the rest of
            // the process's life; `offset + 4 ≤ last_byte ≤ Size` (checked above).
            unsafe { core::ptr::write_volatile((info.Address + offset) as *mut u32, value) };
        }
    }
    println!(
        "gpu-demo: shown at {scale}x scale on the {width}x{height} framebuffer (mapped at {:#x})",
        info.Address
    );
    Ok(())
}

/// The checksum of the image the GPU should have drawn, computed on the CPU with the formula
/// of docs/vgpu-command-processor.md.
fn expected_checksum(max_iterations: u32) -> u64 {
    image_checksum(WIDTH, HEIGHT, |x, y| {
        mandelbrot_pixel(x, y, WIDTH, HEIGHT, max_iterations)
    })
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    println!("gpu-demo: panic");
    exit(98)
}
