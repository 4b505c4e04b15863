//! Running a nested `cargo build` from a build script: shared by the root `build.rs` (the kernel
//! and the boot stub) and `kernel/build.rs` (the apps), each through `#[path]`.
//!
//! A build script runs with the outer build's variables (its target, rustflags, profile, the
//! `CARGO_*` set cargo gives build scripts); they describe the outer build and must not leak
//! into the nested one, which takes its target and flags from its own command line and
//! `.cargo/config.toml`. Where cargo keeps its home, offline mode and registries are kept.

use std::process::Command;

/// Removes from `command`'s environment every variable of the outer build.
pub fn remove_outer_build_environment(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let keep = key == "CARGO_HOME"
            || key == "CARGO_NET_OFFLINE"
            || key.starts_with("CARGO_REGISTRIES");
        let drop = key.starts_with("CARGO_")
            || key.starts_with("RUSTC")
            || matches!(
                key.as_ref(),
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
            );
        if drop && !keep {
            command.env_remove(key.as_ref());
        }
    }
}

/// A `cargo` command (the one running this build) with the outer build's variables removed.
pub fn command() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    remove_outer_build_environment(&mut command);
    command
}

/// Runs `command`, panicking (which fails the build script) with `what` when it cannot start
/// or fails.
pub fn run(mut command: Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|error| panic!("run cargo for {what}: {error}"));
    if !status.success() {
        panic!("building {what} failed ({status}); see the errors above");
    }
}
