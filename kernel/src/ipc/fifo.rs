//! [`Fifo`]: the first-in first-out queue of the channels and of the scheduler's run queue.
//!
//! A ring of `Option<T>` slots in one allocation, grown only by [`Fifo::reserve`] or by a
//! push into a full ring. It does what `VecDeque` did there with fewer instructions per
//! operation: one index wrap by comparison, no capacity arithmetic, no unsafe pointer
//! writes (in the debug kernel, `alloc`'s `VecDeque::push_back`/`pop_front` came to 35–45
//! instructions each under `-icount`; docs/performance.md, "Where the channel round trip goes").

use alloc::vec::Vec;

/// A FIFO queue with a growable ring of slots.
pub struct Fifo<T> {
    /// `slots.len()` is the capacity; the queued items are the `length` slots from `head`
    /// on (wrapping), every other slot is `None`.
    slots: Vec<Option<T>>,
    head: usize,
    length: usize,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Fifo<T> {
    /// An empty queue with no room (the first push or [`Self::reserve`] allocates).
    pub const fn new() -> Fifo<T> {
        Fifo {
            slots: Vec::new(),
            head: 0,
            length: 0,
        }
    }

    /// An empty queue with room for `capacity` items.
    pub fn with_capacity(capacity: usize) -> Fifo<T> {
        let mut queue = Fifo::new();
        queue.reserve(capacity);
        queue
    }

    /// How many items are queued.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Makes room for `additional` more items than are queued now (allocates if needed).
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.length.saturating_add(additional);
        if needed <= self.slots.len() {
            return;
        }
        let mut slots = Vec::with_capacity(needed);
        while let Some(item) = self.pop_front() {
            slots.push(Some(item));
        }
        let length = slots.len();
        slots.resize_with(needed, || None);
        self.slots = slots;
        self.head = 0;
        self.length = length;
    }

    /// Appends `item`; a full ring first doubles (allocates).
    #[inline]
    pub fn push_back(&mut self, item: T) {
        if self.length == self.slots.len() {
            self.reserve(self.length.max(4));
        }
        let mut index = self.head + self.length;
        if index >= self.slots.len() {
            index -= self.slots.len();
        }
        self.slots[index] = Some(item);
        self.length += 1;
    }

    /// Takes the oldest item.
    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        if self.length == 0 {
            return None;
        }
        let item = self.slots[self.head].take();
        self.head += 1;
        if self.head == self.slots.len() {
            self.head = 0;
        }
        self.length -= 1;
        item
    }
}
