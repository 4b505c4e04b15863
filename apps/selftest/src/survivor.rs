//! Mode 20: a process that lives through driver restarts (issue 14). It opens the first
//! adapter, creates a device and then makes a GPU call (`D3DKMTQueryVideoMemoryInfo`, answered
//! by the host) every round, printing `survivor: tick <n>` each round so that the kernel test
//! watching its console sees it make progress. When a call answers STATUS_DEVICE_REMOVED (a
//! driver under the adapter was restarted) it prints `survivor: removed <k>`, lets its old
//! handles go, and keeps ticking while it opens the adapter again (EnumAdapters2, retried
//! until the restarted adapter is there); once a device on the re-opened adapter answers a GPU
//! call it prints `survivor: reopened <k>` (`survivor: adapter open` the first time). After `wanted` removals and re-opens it makes
//! [`FINAL_ROUNDS`] more successful calls and exits 0.
//!
//! Exit codes: 0 done; 1 a GPU call failed with something other than STATUS_DEVICE_REMOVED
//! while the adapter was open (printed first).

use userlib::gpu::{Adapter, D3dkmtError};
use userlib::println;
use userlib::sys::{Native, process};

/// The pause between two rounds, in microseconds.
const ROUND_MICROSECONDS: u64 = 5_000;
/// Successful rounds after the last re-open, before the process exits.
const FINAL_ROUNDS: u32 = 20;

/// How a session with one open adapter ended.
enum SessionEnd {
    /// A call answered STATUS_DEVICE_REMOVED.
    Removed,
    /// The wanted number of removals was reached and the last rounds succeeded.
    Done,
    /// A call failed otherwise: the exit code.
    Failed(i32),
}

struct Survivor {
    tick: u64,
    removals: u32,
    wanted: u32,
}

impl Survivor {
    /// Counts one round, prints it, and pauses.
    fn round(&mut self) {
        self.tick += 1;
        println!("survivor: tick {}", self.tick);
        process::sleep(&Native, ROUND_MICROSECONDS);
    }

    /// Opens the first adapter, retrying (a round each time) until one is there.
    fn open_adapter(&mut self) -> Adapter<'static, Native> {
        let mut last_error = None;
        loop {
            match Adapter::enumerate(&Native) {
                Ok(mut adapters) => {
                    if let Some(adapter) = adapters.take(0) {
                        return adapter;
                    }
                    if last_error != Some(None) {
                        println!("survivor: no adapter yet");
                        last_error = Some(None);
                    }
                }
                Err(error) => {
                    if last_error != Some(Some(error)) {
                        println!("survivor: enumerating adapters: {error:?}");
                        last_error = Some(Some(error));
                    }
                }
            }
            self.round();
        }
    }

    /// One session: an open adapter and a device, used each round until it is removed.
    fn session(&mut self) -> SessionEnd {
        let adapter = self.open_adapter();
        let device = match adapter.create_device() {
            Ok(device) => device,
            Err(D3dkmtError::DeviceRemoved) => return SessionEnd::Removed,
            Err(error) => {
                println!("survivor: CreateDevice failed: {error:?}");
                return SessionEnd::Failed(1);
            }
        };
        let mut successes = 0u32;
        loop {
            match device.adapter().query_video_memory(0) {
                Ok(_) => {
                    successes += 1;
                    if successes == 1 {
                        match self.removals {
                            0 => println!("survivor: adapter open"),
                            removals => println!("survivor: reopened {removals}"),
                        }
                    }
                    if self.removals >= self.wanted && successes > FINAL_ROUNDS {
                        return SessionEnd::Done;
                    }
                }
                Err(D3dkmtError::DeviceRemoved) => return SessionEnd::Removed,
                Err(error) => {
                    println!("survivor: QueryVideoMemoryInfo failed: {error:?}");
                    return SessionEnd::Failed(1);
                }
            }
            self.round();
        }
    }
}

/// Runs until `wanted` removals were lived through (see the module docs).
pub fn run(wanted: u32) -> i32 {
    let mut survivor = Survivor {
        tick: 0,
        removals: 0,
        wanted,
    };
    println!("survivor: started, {wanted} removals to live through");
    loop {
        match survivor.session() {
            SessionEnd::Removed => {
                survivor.removals += 1;
                println!("survivor: removed {}", survivor.removals);
                survivor.round();
            }
            SessionEnd::Done => {
                println!(
                    "survivor: done after {} removals, {} ticks",
                    survivor.removals, survivor.tick
                );
                return 0;
            }
            SessionEnd::Failed(code) => return code,
        }
    }
}
