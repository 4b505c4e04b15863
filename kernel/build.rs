#[path = "../scripts/nested_cargo.rs"]
mod nested_cargo;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=../scripts/nested_cargo.rs");
    apps::build_all(std::path::Path::new(&dir));
    musl_apps::build_all(std::path::Path::new(&dir));
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

// ---- C and C++ programs on musl (docs/d3dkmt.md, "Building a C/C++ program") ----------------
//
// A C or C++ program becomes a guest app with one line in `MUSL_APPS`: its name and its source
// files (relative to the repository root). Each is compiled and linked as a static, non-PIE
// Linux x86-64 executable against Debian's musl (`musl-dev`: its headers and libc.a, through
// the package's `musl-gcc.specs`), with `apps/musl-runtime` (the C++ support pieces) and, for
// D3DKMT programs, userlib's C entry points (`apps/d3dkmt-c`, a static library). The result is
// `$OUT_DIR/apps/NAME.elf`; the kernel starts it with `process::Builder::linux_start`.
mod musl_apps {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The programs: (app name, source files). C++ files (`.cpp`) are built with
    /// `-std=c++17 -fno-exceptions -fno-rtti`, C files with `-std=c11`.
    pub const MUSL_APPS: &[(&str, &[&str])] = &[
        ("musl-selftest", &["apps/musl-selftest/main.c"]),
        ("wsl-d3dkmt", &["userlib/tests/c/wsl_style_d3dkmt.cpp"]),
    ];

    /// Where DirectX-Headers' `wsl/` folder is (`directx-headers-dev`).
    const DIRECTX_HEADERS: &str = "/usr/include/wsl";

    /// musl's spec file (from `musl-dev`): its headers, crt files and libc.a instead of glibc's.
    const SPECS: &str = "/usr/lib/x86_64-linux-musl/musl-gcc.specs";

    pub fn build_all(kernel_directory: &Path) {
        let root = kernel_directory.parent().expect("kernel/ has a parent");
        let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        let objects = out.join("musl-objects");
        std::fs::create_dir_all(&objects).expect("create $OUT_DIR/musl-objects");
        assert!(
            Path::new(SPECS).exists(),
            "{SPECS} is missing: install Debian's musl-dev (apt-get install musl-dev)"
        );
        let runtime = root.join("apps/musl-runtime/cxx_support.cpp");
        println!("cargo:rerun-if-changed={}", runtime.display());
        let entry_points = build_entry_points(root, &out);
        // musl's headers replace /usr/include, so DirectX-Headers' folder is reached through a
        // folder holding only a link to it.
        let directx = out.join("directx-include");
        std::fs::create_dir_all(&directx).expect("create $OUT_DIR/directx-include");
        let link = directx.join("wsl");
        if !link.exists() {
            std::os::unix::fs::symlink(DIRECTX_HEADERS, &link).expect("link DirectX-Headers");
        }
        for (name, sources) in MUSL_APPS {
            let mut inputs = Vec::new();
            for source in sources.iter().map(|source| root.join(source)) {
                println!("cargo:rerun-if-changed={}", source.display());
                inputs.push(compile(root, &directx, &source, &objects, name));
            }
            inputs.push(compile(root, &directx, &runtime, &objects, name));
            inputs.push(entry_points.clone());
            let destination = out.join("apps").join(format!("{name}.elf"));
            let mut link = Command::new("gcc");
            link.arg(format!("-specs={SPECS}"))
                .args(["-static", "-no-pie", "-o"])
                .arg(&destination)
                .args(&inputs)
                .arg("-lpthread");
            run(link, name);
        }
    }

    /// Builds `apps/d3dkmt-c` (userlib's `D3DKMT*` entry points) as a static library; returns
    /// its path.
    fn build_entry_points(root: &Path, out: &Path) -> PathBuf {
        let crate_directory = root.join("apps/d3dkmt-c");
        for path in ["src", "Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
            println!(
                "cargo:rerun-if-changed={}",
                crate_directory.join(path).display()
            );
        }
        let target_directory = out.join("apps-target");
        let mut command = super::nested_cargo::command();
        command
            .current_dir(&crate_directory)
            .args(["build", "--release", "--target-dir"])
            .arg(&target_directory)
            .stdout(std::io::stderr());
        super::nested_cargo::run(command, "app d3dkmt-c");
        target_directory.join("x86_64-unknown-none/release/libd3dkmt_c.a")
    }

    /// Compiles one source file into `objects`; returns the object's path.
    fn compile(root: &Path, directx: &Path, source: &Path, objects: &Path, app: &str) -> PathBuf {
        let stem = source.file_stem().expect("a file name").to_string_lossy();
        let object = objects.join(format!("{app}-{stem}.o"));
        let cxx = source
            .extension()
            .is_some_and(|extension| extension == "cpp");
        let mut command = Command::new("gcc");
        command
            .arg(format!("-specs={SPECS}"))
            .args([
                "-c", "-O2", "-no-pie", "-fno-pie", "-Wall", "-Wextra", "-Werror",
            ])
            .arg("-I")
            .arg(root.join("userlib/include"))
            .arg("-I")
            .arg(directx)
            .arg("-I")
            .arg(directx.join("wsl/stubs"));
        if cxx {
            command.args(["-x", "c++", "-std=c++17", "-fno-exceptions", "-fno-rtti"]);
        } else {
            command.arg("-std=c11");
        }
        command.arg(source).arg("-o").arg(&object);
        run(command, app);
        object
    }

    fn run(mut command: Command, app: &str) {
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("{app}: cannot run {command:?}: {error}"));
        assert!(
            output.status.success(),
            "{app}: {command:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
