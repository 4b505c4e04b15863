//! `D3DKMTQueryAdapterInfo` for `wchar_t` callers: the host's UTF-16 results are widened in the
//! caller's buffer (as libdxg does), and every other query goes through unchanged.
#![allow(unsafe_code)]

use std::cell::RefCell;
use userlib::abi::{self, status::*};
use userlib::d3dkmt::wide_strings::{WIDE_STRING_QUERIES, query_adapter_info, widen_in_place};
use userlib::sys::{Syscall, SyscallNumber};
use zerocopy::FromBytes;

/// A host that answers QueryAdapterInfo with fixed bytes (the start of the UTF-16 layout of the
/// query's result, zero-filled to the size asked) and records the size and first bytes it got.
struct FakeHost {
    answer: Vec<u8>,
    status: i32,
    asked_sizes: RefCell<Vec<u32>>,
    asked_prefix: RefCell<Vec<u8>>,
}

impl FakeHost {
    fn new(answer: Vec<u8>) -> Self {
        Self {
            answer,
            status: STATUS_SUCCESS,
            asked_sizes: RefCell::default(),
            asked_prefix: RefCell::default(),
        }
    }
}

// SAFETY: the fake reads the argument struct userlib passes and writes at most
// `PrivateDriverDataSize` bytes to its `pPrivateDriverData` buffer; it never returns mappings.
unsafe impl Syscall for FakeHost {
    fn call(&self, number: SyscallNumber, arg0: u64, arg1: u64, _arg2: u64) -> i64 {
        assert_eq!(number, SyscallNumber::QueryAdapterInfo);
        // SAFETY: userlib passes the address and size of a live D3DKMT_QUERYADAPTERINFO.
        let bytes = unsafe { std::slice::from_raw_parts(arg0 as *const u8, arg1 as usize) };
        let arguments = abi::D3DKMT_QUERYADAPTERINFO::read_from_bytes(bytes).unwrap();
        self.asked_sizes
            .borrow_mut()
            .push(arguments.PrivateDriverDataSize);
        let size = arguments.PrivateDriverDataSize as usize;
        // SAFETY: the test's buffer holds at least `PrivateDriverDataSize` bytes.
        let buffer = unsafe {
            std::slice::from_raw_parts_mut(arguments.pPrivateDriverData as *mut u8, size)
        };
        *self.asked_prefix.borrow_mut() = buffer[..4.min(size)].to_vec();
        if self.status >= 0 {
            // The host writes the whole result struct: the answer, then zeros.
            let length = self.answer.len().min(size);
            buffer[..length].copy_from_slice(&self.answer[..length]);
            buffer[length..].fill(0);
        }
        i64::from(self.status)
    }
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn code_points(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|chunk| u32::from_ne_bytes(chunk.try_into().unwrap()))
        .collect()
}

/// Runs the query as a C caller would, widening through the callback like the export does.
fn query(host: &FakeHost, query_type: u32, buffer: &mut [u8]) -> i32 {
    let arguments = abi::D3DKMT_QUERYADAPTERINFO {
        hAdapter: 0x4000_0040,
        Type: query_type,
        pPrivateDriverData: buffer.as_mut_ptr() as u64,
        PrivateDriverDataSize: buffer.len() as u32,
        ..Default::default()
    };
    let mut converted = None;
    let status = query_adapter_info(host, Some(&arguments), |layout| converted = Some(*layout));
    if let Some(layout) = converted {
        widen_in_place(&layout, buffer);
    }
    status
}

const DRIVER_DESCRIPTION: u32 = 65;

#[test]
fn driver_description_is_widened_for_a_wchar_t_caller() {
    let host = FakeHost::new(utf16("dxgos GPU \u{1F600} \u{e9}\0"));
    let mut buffer = vec![0xAA_u8; 4096 * 4];
    assert_eq!(
        query(&host, DRIVER_DESCRIPTION, &mut buffer),
        STATUS_SUCCESS
    );
    assert_eq!(
        *host.asked_sizes.borrow(),
        [4096 * 2],
        "the host is asked for UTF-16"
    );
    let points = code_points(&buffer);
    let expected: Vec<u32> = "dxgos GPU \u{1F600} \u{e9}"
        .chars()
        .map(u32::from)
        .collect();
    assert_eq!(&points[..expected.len()], &expected[..]);
    assert!(
        points[expected.len()..].iter().all(|&point| point == 0),
        "zero after the string"
    );
}

#[test]
fn utf16_caller_gets_the_hosts_bytes_unchanged() {
    let answer = utf16("dxgos\0");
    let host = FakeHost::new(answer.clone());
    let mut buffer = vec![0_u8; 4096 * 2];
    assert_eq!(
        query(&host, DRIVER_DESCRIPTION, &mut buffer),
        STATUS_SUCCESS
    );
    assert_eq!(*host.asked_sizes.borrow(), [4096 * 2]);
    assert_eq!(&buffer[..answer.len()], &answer[..]);
}

#[test]
fn other_types_and_sizes_are_not_converted() {
    // ADAPTERTYPE with a driver-description-sized buffer: forwarded as is.
    let host = FakeHost::new(vec![0x81, 0, 0, 0]);
    let mut buffer = vec![0_u8; 4096 * 4];
    assert_eq!(query(&host, 15, &mut buffer), STATUS_SUCCESS);
    assert_eq!(*host.asked_sizes.borrow(), [4096 * 4]);
    assert_eq!(&buffer[..4], &[0x81, 0, 0, 0]);
    assert!(buffer[4..].iter().all(|&byte| byte == 0));
}

#[test]
fn input_prefix_reaches_the_host_and_output_suffix_moves_after_the_wide_array() {
    // UMDRIVERNAME: the Version input (prefix) must reach the host.
    let host = FakeHost::new([&[3, 0, 0, 0][..], &utf16("umd.so\0")].concat());
    let mut buffer = vec![0_u8; 4 + 260 * 4];
    buffer[0] = 3;
    assert_eq!(query(&host, 1, &mut buffer), STATUS_SUCCESS);
    assert_eq!(*host.asked_prefix.borrow(), [3, 0, 0, 0]);
    assert_eq!(&buffer[..4], &[3, 0, 0, 0]);
    let expected: Vec<u32> = "umd.so".chars().map(u32::from).collect();
    assert_eq!(&code_points(&buffer[4..])[..expected.len()], &expected[..]);

    // UMOPENGLINFO: Version and Flags follow the string.
    let mut answer = utf16("icd.so\0");
    answer.resize(260 * 2, 0);
    answer.extend_from_slice(&[7, 0, 0, 0, 9, 0, 0, 0]);
    let host = FakeHost::new(answer);
    let mut buffer = vec![0_u8; 260 * 4 + 8];
    assert_eq!(query(&host, 2, &mut buffer), STATUS_SUCCESS);
    assert_eq!(&buffer[260 * 4..], &[7, 0, 0, 0, 9, 0, 0, 0]);
    let expected: Vec<u32> = "icd.so".chars().map(u32::from).collect();
    assert_eq!(
        &code_points(&buffer[..260 * 4])[..expected.len()],
        &expected[..]
    );
}

#[test]
fn unpaired_surrogates_become_replacement_characters() {
    let answer: Vec<u8> = [0x41_u16, 0xD800, 0x42, 0xDC00, 0]
        .iter()
        .flat_map(|unit| unit.to_le_bytes())
        .collect();
    let host = FakeHost::new(answer);
    let mut buffer = vec![0_u8; 40 * 4];
    assert_eq!(query(&host, 60, &mut buffer), STATUS_SUCCESS);
    assert_eq!(&code_points(&buffer)[..5], &[0x41, 0xFFFD, 0x42, 0xFFFD, 0]);
}

#[test]
fn a_failed_query_leaves_the_buffer_alone() {
    let mut host = FakeHost::new(utf16("never\0"));
    host.status = STATUS_INVALID_PARAMETER;
    let mut buffer = vec![0x5A_u8; 4096 * 4];
    assert_eq!(
        query(&host, DRIVER_DESCRIPTION, &mut buffer),
        STATUS_INVALID_PARAMETER
    );
    assert!(buffer.iter().all(|&byte| byte == 0x5A));
}

#[test]
fn null_arguments_are_refused_without_a_call() {
    let host = FakeHost::new(Vec::new());
    let status = query_adapter_info(&host, None, |_| panic!("nothing to widen"));
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert!(host.asked_sizes.borrow().is_empty());
}

#[test]
fn layouts_are_those_of_the_header() {
    // The wchar_t and UTF-16 sizes the header asserts (include/dxg/d3dkmthk.h) for the structs
    // whose query types convert.
    let size_of = |query_type: u32| {
        let layout = WIDE_STRING_QUERIES
            .iter()
            .find(|layout| layout.query_types.contains(&query_type))
            .unwrap();
        (layout.utf16_size(), layout.wide_size())
    };
    assert_eq!(size_of(65), (8192, 16384)); // D3DKMT_DRIVER_DESCRIPTION
    assert_eq!(size_of(8), (2080, 4160)); // D3DKMT_ADAPTERREGISTRYINFO
    assert_eq!(size_of(1), (524, 1044)); // D3DKMT_UMDFILENAMEINFO
}
