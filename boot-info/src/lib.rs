//! The typed hand-off from the UEFI boot stub to the kernel.
#![no_std]
#![forbid(unsafe_code)]
