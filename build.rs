//! Builds the dxgos boot image.
//!
//! 1. The kernel (`kernel/`, target `x86_64-target.json`) and the UEFI boot stub (`boot/`, target
//!    `x86_64-unknown-uefi`) are each built by a nested `cargo build` with build-std, into
//!    `target/kernel` and `target/boot` (their own target directories, so the outer build's
//!    lock is not contended).
//! 2. `disk-image` writes `target/dxgos.img`: GPT + FAT EFI system partition with the stub, the
//!    kernel and the default command line. The kernel on the ESP is a stripped copy
//!    (`kernel.stripped` beside the kernel, made with `llvm-objcopy`/`objcopy --strip-all`); the
//!    unstripped ELF stays under `target/kernel` for debuggers (`DXGOS_KERNEL`). Without either
//!    tool the image carries the unstripped kernel and the build says so.
//! 3. When `qemu-img` is on the PATH, `target/dxgos.vhdx` is written beside it for Hyper-V.
//!
//! The runner learns the paths through `DXGOS_*` environment variables set at compile time.
//! Set `DXGOS_PROFILE=release` to build the kernel and stub optimised. Release kernels leave
//! out the in-kernel test suite (`mode=test`) unless `DXGOS_KERNEL_TESTS=1`; dev kernels carry it
//! unless `DXGOS_KERNEL_TESTS=0`.

#[path = "scripts/nested_cargo.rs"]
mod nested_cargo;

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        root.join(target)
    };
    let profile = std::env::var("DXGOS_PROFILE").unwrap_or_else(|_| "dev".into());
    println!("cargo:rerun-if-env-changed=DXGOS_PROFILE");
    for path in [
        "kernel/src",
        "kernel/Cargo.toml",
        "kernel/Cargo.lock",
        "kernel/linker.ld",
        "kernel/build.rs",
        "scripts/nested_cargo.rs",
        "boot/src",
        "boot/Cargo.toml",
        "boot/Cargo.lock",
        "boot-info/src",
        "hyperv/src",
        "shared-bytes/src",
        "vmbus/src",
        "dxg/src",
        "drivers/src",
        "d3dkmt/src",
        "userlib/src",
        "apps",
        "x86_64-target.json",
        "rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    let kernel_target = format!("--target={}", root.join("x86_64-target.json").display());
    let mut kernel_arguments = vec![kernel_target.as_str(), "-Zjson-target-spec"];
    if with_kernel_tests(&profile) {
        kernel_arguments.extend(["--features", "in-kernel-tests"]);
    }
    let kernel = build(
        &root,
        "kernel",
        &target.join("kernel"),
        &kernel_arguments,
        &profile,
    );
    let kernel_elf = kernel
        .join("x86_64-target")
        .join(profile_directory(&profile))
        .join("kernel");
    let boot = build(
        &root,
        "boot",
        &target.join("boot"),
        &["--target=x86_64-unknown-uefi"],
        &profile,
    );
    let boot_efi = boot
        .join("x86_64-unknown-uefi")
        .join(profile_directory(&profile))
        .join("boot.efi");

    let image = target.join("dxgos.img");
    let read = |path: &Path| {
        std::fs::read(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
    };
    let kernel_on_esp = stripped(&kernel_elf);
    let kernel_bytes = read(&kernel_on_esp);
    let stub_bytes = read(&boot_efi);
    let contents = disk_image::DiskContents {
        boot_stub: &stub_bytes,
        kernel: &kernel_bytes,
        command_line: "mode=run log=info",
    };
    disk_image::write(&contents, &image)
        .unwrap_or_else(|error| panic!("write {}: {error}", image.display()));
    let vhdx = target.join("dxgos.vhdx");
    match Command::new("qemu-img")
        .args(["convert", "-O", "vhdx"])
        .arg(&image)
        .arg(&vhdx)
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(status) => {
            println!("cargo:warning=qemu-img convert failed ({status}); no .vhdx written")
        }
        Err(_) => {} // qemu-img is optional: without it there is no .vhdx
    }
    println!("cargo:rustc-env=DXGOS_KERNEL={}", kernel_elf.display());
    println!(
        "cargo:rustc-env=DXGOS_KERNEL_ON_ESP={}",
        kernel_on_esp.display()
    );
    println!("cargo:rustc-env=DXGOS_BOOT_STUB={}", boot_efi.display());
    println!("cargo:rustc-env=DXGOS_IMAGE={}", image.display());
    println!("cargo:rustc-env=DXGOS_TARGET_DIR={}", target.display());
}

/// A copy of `elf` without symbols and debug sections, written beside it; `elf` itself when no
/// objcopy is on the PATH (with a warning).
fn stripped(elf: &Path) -> PathBuf {
    let output = elf.with_extension("stripped");
    for tool in ["llvm-objcopy", "objcopy"] {
        let status = Command::new(tool)
            .arg("--strip-all")
            .arg(elf)
            .arg(&output)
            .status();
        if matches!(status, Ok(status) if status.success()) {
            return output;
        }
    }
    println!(
        "cargo:warning=neither llvm-objcopy nor objcopy could strip {}; the image carries it with its debug sections",
        elf.display()
    );
    elf.to_path_buf()
}

/// Whether the kernel image carries its in-kernel test suite (`mode=test`): dev images do and
/// release images do not, unless `DXGOS_KERNEL_TESTS` says otherwise (`1` or `0`).
fn with_kernel_tests(profile: &str) -> bool {
    println!("cargo:rerun-if-env-changed=DXGOS_KERNEL_TESTS");
    match std::env::var("DXGOS_KERNEL_TESTS").as_deref() {
        Ok("1") => true,
        Ok("0") => false,
        Ok(other) => panic!("DXGOS_KERNEL_TESTS must be 0 or 1, not {other:?}"),
        Err(_) => profile == "dev",
    }
}

fn profile_directory(profile: &str) -> &str {
    if profile == "dev" { "debug" } else { profile }
}

/// Runs a nested `cargo build` of the crate in `root/name` and returns its target directory.
fn build(
    root: &Path,
    name: &str,
    target_directory: &Path,
    extra: &[&str],
    profile: &str,
) -> PathBuf {
    let mut command = nested_cargo::command();
    command
        .current_dir(root.join(name))
        .arg("build")
        .arg("--profile")
        .arg(profile)
        .args(extra)
        .args([
            "-Zbuild-std=core,alloc,compiler_builtins",
            "-Zbuild-std-features=compiler-builtins-mem",
            "--target-dir",
        ])
        .arg(target_directory);
    nested_cargo::run(command, &format!("the {name} crate"));
    target_directory.to_path_buf()
}
