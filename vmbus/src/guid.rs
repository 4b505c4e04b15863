//! GUIDs in wire layout and the well-known device classes: the one [`Guid`] type lives in the
//! `hyperv` crate (shared with dxg and the vPCI driver); re-exported here under its old path.

pub use hyperv::guid::{Guid, class};
