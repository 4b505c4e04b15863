//! The emulated Hyper-V host (work in progress).
#![forbid(unsafe_code)]
