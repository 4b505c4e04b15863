//! The shared handles a process created with ShareObjects.
//!
//! dxgos has no file descriptors, so the "NT handle" ShareObjects gives an application is the
//! VM-wide shared handle value itself (Linux gives a file descriptor whose last close sends
//! DESTROYNTSHAREDOBJECT). There is no call to close one: a shared handle lives until its
//! process ends, when the dxg core's DestroyProcess teardown destroys every shared handle the
//! process created. [`Translator::exit`](super::Translator::exit) therefore sends no
//! DestroyNtSharedObject of its own (that would destroy them twice); it only forgets them.

use alloc::collections::BTreeSet;
use dxg::wire::D3dkmtHandle;

/// The live shared handles of one process: ShareObjects inserts them, the process's end
/// clears them (DestroyProcess destroyed them).
pub type SharedHandles = BTreeSet<D3dkmtHandle>;
