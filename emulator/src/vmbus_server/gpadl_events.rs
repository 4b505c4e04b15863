//! Reporting the GPADL table's changes to device models.
//!
//! A device model may need the guest pages behind a GPADL the guest created on its channel:
//! the GPU-PV host does, for SETEXISTINGSYSMEMSTORE (the guest backs an existing-sysmem
//! allocation with a GPADL it established on the dxg global channel). The server keeps the
//! table; a caller that asked for reports with [`Server::report_gpadls`] takes its changes, in
//! order, with [`Server::take_gpadl_events`]:
//!
//! - [`GpadlEvent::Created`] once a GPADL is complete and the host answered GPADL_CREATED with
//!   success (failed or incomplete GPADLs are never reported);
//! - [`GpadlEvent::Removed`] once the server forgets it: at GPADL_TEARDOWN, at CLOSECHANNEL for
//!   a teardown that waited for the channel to close (its ring GPADL), and for every GPADL at a
//!   new connection or UNLOAD.
//!
//! Reports are off by default, so a server nobody drains does not collect them.

use super::Server;
use hyperv::memory::GuestMemory;
use vmbus::gpadl::GpaRange;

/// A change of the server's GPADL table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpadlEvent {
    /// The guest created GPADL `gpadl` on channel `relid`, describing `ranges`.
    Created {
        /// The channel the GPADL was created for.
        relid: u32,
        /// The GPADL handle (chosen by the guest).
        gpadl: u32,
        /// The guest memory it describes.
        ranges: Vec<GpaRange>,
    },
    /// GPADL `gpadl` of channel `relid` is gone (torn down, or the connection reset).
    Removed {
        /// The channel the GPADL was created for.
        relid: u32,
        /// The GPADL handle.
        gpadl: u32,
    },
}

impl<M: GuestMemory + Clone> Server<M> {
    /// Starts recording [`GpadlEvent`]s for [`Server::take_gpadl_events`]. GPADLs that already
    /// exist are reported as created first.
    pub fn report_gpadls(&mut self) {
        if self.gpadl_events.is_some() {
            return;
        }
        let existing = self
            .gpadls
            .iter()
            .map(|(gpadl, (relid, ranges))| GpadlEvent::Created {
                relid: *relid,
                gpadl: *gpadl,
                ranges: ranges.clone(),
            })
            .collect();
        self.gpadl_events = Some(existing);
    }

    /// The GPADL table's changes since the last call, oldest first (empty unless
    /// [`Server::report_gpadls`] was called).
    pub fn take_gpadl_events(&mut self) -> Vec<GpadlEvent> {
        self.gpadl_events
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The pages of GPADL `gpadl` and the channel it belongs to, while it exists.
    pub fn gpadl(&self, gpadl: u32) -> Option<(u32, &[GpaRange])> {
        self.gpadls
            .get(&gpadl)
            .map(|(relid, ranges)| (*relid, ranges.as_slice()))
    }

    /// Adds a completed GPADL to the table.
    pub(super) fn insert_gpadl(&mut self, gpadl: u32, relid: u32, ranges: Vec<GpaRange>) {
        if let Some(events) = self.gpadl_events.as_mut() {
            events.push(GpadlEvent::Created {
                relid,
                gpadl,
                ranges: ranges.clone(),
            });
        }
        self.gpadls.insert(gpadl, (relid, ranges));
    }

    /// Removes a GPADL from the table (nothing if it is not there).
    pub(super) fn remove_gpadl(&mut self, gpadl: u32) {
        if let Some((relid, _)) = self.gpadls.remove(&gpadl)
            && let Some(events) = self.gpadl_events.as_mut()
        {
            events.push(GpadlEvent::Removed { relid, gpadl });
        }
    }

    /// Empties the table (new connection or UNLOAD).
    pub(super) fn remove_all_gpadls(&mut self) {
        let handles: Vec<u32> = self.gpadls.keys().copied().collect();
        for gpadl in handles {
            self.remove_gpadl(gpadl);
        }
    }
}
