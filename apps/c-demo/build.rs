//! Compiles `src/demo.c` against the generated `userlib/include/d3dkmt_dxgos.h` for a
//! freestanding x86-64 ring-3 target (no libc, no SSE, no red zone: the same ABI as the Rust
//! side, which is built for `x86_64-unknown-none`).

fn main() {
    println!("cargo:rerun-if-changed=src/demo.c");
    println!("cargo:rerun-if-changed=../../userlib/include/d3dkmt_dxgos.h");
    let compiler = std::env::var("DXGOS_CC").unwrap_or_else(|_| "gcc".into());
    cc::Build::new()
        .compiler(&compiler)
        .file("src/demo.c")
        .include("../../userlib/include")
        .no_default_flags(true)
        .flag("-std=c11")
        .flag("-O2")
        .flag("-m64")
        .flag("-ffreestanding")
        .flag("-fno-builtin")
        .flag("-fno-stack-protector")
        .flag("-fno-pic")
        .flag("-fno-pie")
        .flag("-mno-red-zone")
        .flag("-mgeneral-regs-only")
        .flag("-Wall")
        .flag("-Wextra")
        .flag("-Werror")
        .compile("demo");
}
