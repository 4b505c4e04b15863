//! userlib: the D3DKMT API for dxgos guest applications.
//!
//! Layers, bottom up:
//! - [`abi`]: the `d3dkmthk.h` C types (`D3DKMT_*`, `D3DDDI_*`, `LUID`, `NTSTATUS`) with the exact
//!   names and x86-64 layouts that Windows and WSL's libdxg use; every layout is pinned by
//!   compile-time asserts and by tests whose numbers come from the reference.
//! - [`sys`]: the syscall ABI between applications and the kernel (call numbers, register
//!   convention) and the [`sys::Syscall`] trait, so everything above it runs against a fake
//!   kernel in host tests. The real `syscall` instruction lives in [`sys::Native`].
//! - [`d3dkmt`]: the `D3DKMT*` C entry points (exported with the `c-abi` feature).
//! - [`gpu`]: a safe Rust API of owned objects that destroy their kernel object on drop.
//! - [`console`]: `core::fmt::Write` over the console syscall, and `print!`/`println!`.
//! - [`vgpu`]: the dxgos vGPU's command packets and reference images (CPU checks of its work).
//! - [`header`]: the C header `include/d3dkmt_dxgos.h`, generated from the Rust tables.
//!
//! The crate is `no_std` and needs no allocator; the `alloc` feature adds a few conveniences.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod abi;
mod calls;
pub mod console;
pub mod d3dkmt;
pub mod gpu;
pub mod header;
pub mod sys;
pub mod vgpu;

// The README's example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
