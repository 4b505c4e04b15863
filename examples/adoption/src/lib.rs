//! An adoption example for the reusable dxgos crates (issue 18).
//!
//! The test `tests/adoption.rs` is the example: it plays "another OS" that uses only the public
//! APIs of `dxgos-hyperv`, `dxgos-vmbus`, `dxgos-dxg` and `dxgos-d3dkmt` with its own
//! [`hyperv::platform::HypervisorBackend`] and [`hyperv::memory::GuestMemory`], against the
//! in-process emulated Hyper-V host (the `emulator` crate, a dev-dependency). See
//! `docs/porting.md`.
#![forbid(unsafe_code)]
