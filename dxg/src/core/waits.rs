//! CPU waits that end without the host's signal: given up by their caller
//! ([`Request::CancelWait`](super::Request::CancelWait)), by whoever serves a caller that left
//! ([`Driver::caller_gone`]), or dropped with their process.
//!
//! The protocol has no command to withdraw a WAITFORSYNCOBJECTFROMCPU: the host keeps its wait
//! until the objects are signalled or the process is destroyed (Linux likewise only forgets its
//! host event when the ioctl is interrupted). The driver therefore completes the wait's ticket
//! locally and remembers its event id as *abandoned*, so that a late SIGNALGUESTEVENT (or a late
//! acknowledgement) is swallowed instead of being reported as a protocol error. Abandoned ids live
//! until their process is gone (after DESTROYPROCESS the host holds none of its waits).

use super::{Driver, GuestEvent, ProcessId, Reply, Ticket};
use crate::wire::NtStatus;
use alloc::vec::Vec;

impl Driver {
    /// Completes every pending CPU wait of `pid` with `status`, remembers their events as
    /// abandoned and drops the process's CPU_NOTIFICATION events (process teardown).
    pub(super) fn abandon_process_events(&mut self, pid: ProcessId, status: NtStatus) {
        let waits: Vec<(u64, Ticket)> = self
            .events
            .iter()
            .filter_map(|(event, state)| match state {
                GuestEvent::Wait {
                    ticket, process, ..
                } if *process == pid => Some((*event, *ticket)),
                _ => None,
            })
            .collect();
        for (event, ticket) in waits {
            self.events.remove(&event);
            self.abandoned_events.insert(event, pid);
            self.complete(ticket, Err(status));
        }
        self.events.retain(
            |_, event| !matches!(event, GuestEvent::Notification { process, .. } if *process == pid),
        );
    }

    /// Forgets the abandoned events of a process the host no longer knows.
    pub(super) fn forget_abandoned_events(&mut self, pid: ProcessId) {
        self.abandoned_events.retain(|_, process| *process != pid);
    }

    /// The caller of `ticket`, a request of `pid`, stopped waiting for it (its timeout passed,
    /// or it was killed). A CPU wait (a [`Request::WaitFromCpu`](super::Request::WaitFromCpu),
    /// or the enqueued CPU event of a
    /// [`Request::SignalSynchronizationObject2`](super::Request::SignalSynchronizationObject2))
    /// is given up as [`Request::CancelWait`](super::Request::CancelWait) gives it up: its
    /// ticket completes with STATUS_CANCELLED and a late signal is swallowed. Any other request
    /// is left alone: it waits only for its own answer, which no command withdraws, and its
    /// transaction ends with that answer or its bound. Returns whether a wait was given up (the
    /// core then has its completion to report).
    pub fn caller_gone(&mut self, pid: ProcessId, ticket: Ticket) -> bool {
        let Some(event) = self.waiting_event(pid, ticket) else {
            return false;
        };
        self.give_up_wait(pid, event, ticket);
        true
    }

    /// Serves [`Request::CancelWait`](super::Request::CancelWait).
    pub(super) fn cancel_wait(
        &mut self,
        pid: ProcessId,
        ticket: Ticket,
        wait: Ticket,
    ) -> Result<(), NtStatus> {
        self.active_process(pid)?;
        let event = self
            .waiting_event(pid, wait)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        self.give_up_wait(pid, event, wait);
        self.complete(ticket, Ok(Reply::Status(NtStatus::SUCCESS)));
        Ok(())
    }

    /// The event of the pending CPU wait of `pid` answered on `ticket`, if there is one.
    fn waiting_event(&self, pid: ProcessId, ticket: Ticket) -> Option<u64> {
        self.events.iter().find_map(|(event, state)| match state {
            GuestEvent::Wait {
                ticket: candidate,
                process,
                ..
            } if *candidate == ticket && *process == pid => Some(*event),
            _ => None,
        })
    }

    /// Ends the CPU wait of `pid` on `event` (answered on `wait`) with STATUS_CANCELLED; its
    /// event is remembered as abandoned.
    fn give_up_wait(&mut self, pid: ProcessId, event: u64, wait: Ticket) {
        self.events.remove(&event);
        self.abandoned_events.insert(event, pid);
        self.complete(wait, Err(NtStatus::CANCELLED));
    }

    /// A wait's acknowledgement failed (or will never come): the host holds no wait for `event`.
    /// Returns whether the wait was still pending (its ticket must then be completed).
    pub(super) fn wait_refused(&mut self, event: u64) -> bool {
        self.abandoned_events.remove(&event);
        self.events.remove(&event).is_some()
    }

    /// A SIGNALGUESTEVENT for an event nobody waits for any more; true when it was abandoned
    /// (and is now forgotten).
    pub(super) fn late_signal(&mut self, event: u64) -> bool {
        self.abandoned_events.remove(&event).is_some()
    }
}
