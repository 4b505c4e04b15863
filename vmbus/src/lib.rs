//! vmbus (work in progress).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
