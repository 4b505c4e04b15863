#[path = "../scripts/nested_cargo.rs"]
mod nested_cargo;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=../scripts/nested_cargo.rs");
    apps::build_all(std::path::Path::new(&dir));
}

// ---- Guest applications (apps/) ---------------------------------------------------------------
//
// Every directory under `apps/` is a crate (its own workspace, target `x86_64-unknown-none`
// through its `.cargo/config.toml`, a static non-PIE executable linked at 4 MiB). This section
// builds each with a nested `cargo build --release` into `$OUT_DIR/apps-target` and copies the
// executable to `$OUT_DIR/apps/NAME.elf`; `src/process/images.rs` embeds them with
// `include_bytes!`. Building them here (rather than in the root build.rs) means a plain
// `cargo build` inside kernel/ and the image build take the same path, and the boot stub needs
// to load nothing but the kernel.
mod apps {
    use std::path::{Path, PathBuf};

    /// The apps the kernel embeds (each must exist under `apps/`).
    const APPS: &[&str] = &[
        "hello",
        "selftest",
        "gpu-demo",
        "d3dkmt-info",
        "c-demo",
        "gpupv-check",
    ];

    pub fn build_all(kernel_directory: &Path) {
        let root = kernel_directory.parent().expect("kernel/ has a parent");
        let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        let output_directory = out.join("apps");
        std::fs::create_dir_all(&output_directory).expect("create $OUT_DIR/apps");
        println!(
            "cargo:rerun-if-changed={}",
            root.join("userlib/src").display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            root.join("userlib/Cargo.toml").display()
        );
        for name in APPS {
            let crate_directory = root.join("apps").join(name);
            for path in ["src", "Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
                println!(
                    "cargo:rerun-if-changed={}",
                    crate_directory.join(path).display()
                );
            }
            let target_directory = out.join("apps-target");
            build(&crate_directory, &target_directory, name);
            let elf = target_directory
                .join("x86_64-unknown-none")
                .join("release")
                .join(name);
            let destination = output_directory.join(format!("{name}.elf"));
            std::fs::copy(&elf, &destination).unwrap_or_else(|error| {
                panic!(
                    "copy {} to {}: {error}",
                    elf.display(),
                    destination.display()
                )
            });
        }
    }

    fn build(crate_directory: &Path, target_directory: &Path, name: &str) {
        // The kernel build's variables (its JSON target, build-std, rustflags) must not leak
        // in: the app's own .cargo/config.toml decides its target and flags.
        let mut command = super::nested_cargo::command();
        command
            .current_dir(crate_directory)
            .args(["build", "--release", "--target-dir"])
            .arg(target_directory)
            // A build script's stdout is read by cargo as directives: keep the child's off it.
            .stdout(std::io::stderr());
        super::nested_cargo::run(command, &format!("app {name}"));
    }
}
