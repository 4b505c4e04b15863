//! Which device owns each context and paging queue of the process.
//!
//! Some calls name only a context or a paging queue while their `Request` (or the views they
//! leave behind) needs the device: ReclaimAllocations2 sends the paging queue's device, and a
//! hardware queue's progress-fence view must go when its context's device is destroyed. The
//! translator records the owners from the replies of CreateContextVirtual and
//! CreatePagingQueue and forgets them with the object, its device, or the process.

use alloc::collections::BTreeMap;
use dxg::wire::D3dkmtHandle;

/// The devices of the process's contexts and paging queues.
#[derive(Debug, Default)]
pub struct Owners {
    contexts: BTreeMap<D3dkmtHandle, D3dkmtHandle>,
    paging_queues: BTreeMap<D3dkmtHandle, D3dkmtHandle>,
}

impl Owners {
    /// Records a context created on `device`.
    pub fn add_context(&mut self, context: D3dkmtHandle, device: D3dkmtHandle) {
        self.contexts.insert(context, device);
    }

    /// The device of a context this process created.
    pub fn context_device(&self, context: D3dkmtHandle) -> Option<D3dkmtHandle> {
        self.contexts.get(&context).copied()
    }

    /// Forgets a destroyed context.
    pub fn remove_context(&mut self, context: D3dkmtHandle) {
        self.contexts.remove(&context);
    }

    /// Records a paging queue created on `device`.
    pub fn add_paging_queue(&mut self, paging_queue: D3dkmtHandle, device: D3dkmtHandle) {
        self.paging_queues.insert(paging_queue, device);
    }

    /// The device of a paging queue this process created.
    pub fn paging_queue_device(&self, paging_queue: D3dkmtHandle) -> Option<D3dkmtHandle> {
        self.paging_queues.get(&paging_queue).copied()
    }

    /// Forgets a destroyed paging queue.
    pub fn remove_paging_queue(&mut self, paging_queue: D3dkmtHandle) {
        self.paging_queues.remove(&paging_queue);
    }

    /// Forgets everything that lived on a destroyed device.
    pub fn remove_device(&mut self, device: D3dkmtHandle) {
        self.contexts.retain(|_, owner| *owner != device);
        self.paging_queues.retain(|_, owner| *owner != device);
    }

    /// Forgets everything (the process ended).
    pub fn clear(&mut self) {
        self.contexts.clear();
        self.paging_queues.clear();
    }
}
