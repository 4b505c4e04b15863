//! A model of one process's user memory, for tests and fuzzers of the translator.
//!
//! Pages of 4 KiB are present or absent, readable and optionally writable; an access fails
//! with the first address it cannot touch, as the kernel's validated copies do. IO-space
//! mappings are the environment's business: [`SparseUserMemory`] only holds ordinary pages.

use super::UserMemoryError;
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

/// Page size of the model.
pub const PAGE_SIZE: u64 = 4096;

/// One page.
#[derive(Clone, Debug)]
struct Page {
    bytes: Vec<u8>,
    writable: bool,
}

/// Sparse user memory made of 4 KiB pages with read/write permissions.
#[derive(Debug, Default)]
pub struct SparseUserMemory {
    pages: RefCell<BTreeMap<u64, Page>>,
}

impl SparseUserMemory {
    /// Empty memory (every access fails).
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the pages covering `address .. address + length` present (zeroed), writable or
    /// read-only. Existing pages keep their contents and get the new permission.
    pub fn map(&self, address: u64, length: u64, writable: bool) {
        if length == 0 {
            return;
        }
        let first = address / PAGE_SIZE;
        let last = address.saturating_add(length - 1) / PAGE_SIZE;
        let mut pages = self.pages.borrow_mut();
        for number in first..=last {
            pages
                .entry(number)
                .or_insert_with(|| Page {
                    bytes: vec![0; PAGE_SIZE as usize],
                    writable,
                })
                .writable = writable;
        }
    }

    /// Removes the pages covering `address .. address + length`.
    pub fn unmap(&self, address: u64, length: u64) {
        if length == 0 {
            return;
        }
        let first = address / PAGE_SIZE;
        let last = address.saturating_add(length - 1) / PAGE_SIZE;
        self.pages
            .borrow_mut()
            .retain(|number, _| !(first..=last).contains(number));
    }

    /// Copies from memory; fails at the first absent page.
    pub fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError> {
        let pages = self.pages.borrow();
        Self::walk(address, buffer.len(), |at, offset, range| {
            let page = pages
                .get(&(at / PAGE_SIZE))
                .ok_or(UserMemoryError { address: at })?;
            buffer[offset..offset + range.len()].copy_from_slice(&page.bytes[range]);
            Ok(())
        })
    }

    /// Copies to memory; fails (writing nothing) if any page is absent or read-only.
    pub fn write(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        self.check_writable(address, data.len())?;
        let mut pages = self.pages.borrow_mut();
        Self::walk(address, data.len(), |at, offset, range| {
            if let Some(page) = pages.get_mut(&(at / PAGE_SIZE)) {
                let length = range.len();
                page.bytes[range].copy_from_slice(&data[offset..offset + length]);
            }
            Ok(())
        })
    }

    /// Checks that every page of `address .. address + length` is present and writable (what
    /// the kernel requires of the pages behind an existing-system-memory allocation).
    pub fn check_writable(&self, address: u64, length: usize) -> Result<(), UserMemoryError> {
        let pages = self.pages.borrow();
        Self::walk(address, length, |at, _, _| {
            match pages.get(&(at / PAGE_SIZE)) {
                Some(page) if page.writable => Ok(()),
                _ => Err(UserMemoryError { address: at }),
            }
        })
    }

    /// Writes regardless of the write permission (a test setting up read-only data); fails if
    /// a page is absent.
    pub fn poke(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        let mut pages = self.pages.borrow_mut();
        Self::walk(address, data.len(), |at, offset, range| {
            let page = pages
                .get_mut(&(at / PAGE_SIZE))
                .ok_or(UserMemoryError { address: at })?;
            let length = range.len();
            page.bytes[range].copy_from_slice(&data[offset..offset + length]);
            Ok(())
        })
    }

    /// Calls `visit(address, offset in the buffer, byte range in the page)` for each page piece
    /// of `address .. address + length`; an address range that wraps around fails.
    fn walk(
        address: u64,
        length: usize,
        mut visit: impl FnMut(u64, usize, core::ops::Range<usize>) -> Result<(), UserMemoryError>,
    ) -> Result<(), UserMemoryError> {
        if length == 0 {
            return Ok(());
        }
        address
            .checked_add(length as u64 - 1)
            .ok_or(UserMemoryError { address })?;
        let mut offset = 0usize;
        while offset < length {
            let at = address + offset as u64;
            let in_page = (at % PAGE_SIZE) as usize;
            let piece = (PAGE_SIZE as usize - in_page).min(length - offset);
            visit(at, offset, in_page..in_page + piece)?;
            offset += piece;
        }
        Ok(())
    }
}
