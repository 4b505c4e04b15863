//! Helpers shared by the `hyperv` fuzz targets: building frames and serial streams from fuzz
//! input, so targets reach past the CRC instead of spending their time on garbage.

use hyperv::emulated_link::Frame;
use libfuzzer_sys::arbitrary::{Result, Unstructured};

/// Synthetic MSR numbers worth hitting often (0x40000000..=0x400000FF), else any number.
pub fn msr_number(input: &mut Unstructured) -> Result<u32> {
    Ok(if input.arbitrary::<bool>()? {
        0x4000_0000 | u32::from(input.arbitrary::<u8>()?)
    } else {
        input.arbitrary()?
    })
}

/// Any frame of any kind, fields arbitrary.
pub fn arbitrary_frame(input: &mut Unstructured) -> Result<Frame> {
    Ok(match input.int_in_range(0..=10u8)? {
        0 => Frame::Hello {
            version: input.arbitrary()?,
        },
        1 => Frame::WriteMsr {
            msr: msr_number(input)?,
            value: input.arbitrary()?,
        },
        2 => Frame::ReadMsr {
            msr: msr_number(input)?,
        },
        3 => Frame::Hypercall {
            input: input.arbitrary()?,
            input_parameter: input.arbitrary()?,
            output_parameter: input.arbitrary()?,
        },
        4 => Frame::MmioRead {
            gpa: input.arbitrary()?,
            size: input.arbitrary()?,
        },
        5 => Frame::MmioWrite {
            gpa: input.arbitrary()?,
            size: input.arbitrary()?,
            value: input.arbitrary()?,
        },
        6 => Frame::HelloReply {
            version: input.arbitrary()?,
            vp_index: input.arbitrary()?,
            privileges: input.arbitrary()?,
        },
        7 => Frame::MsrResult {
            msr: msr_number(input)?,
            status: input.int_in_range(0..=2)?,
            value: input.arbitrary()?,
        },
        8 => Frame::HypercallResult {
            output: input.arbitrary()?,
        },
        9 => Frame::Interrupt {
            vector: if input.arbitrary::<bool>()? {
                u32::from(input.arbitrary::<u8>()?)
            } else {
                input.arbitrary()?
            },
        },
        _ => Frame::MmioResult {
            status: input.int_in_range(0..=2)?,
            value: input.arbitrary()?,
        },
    })
}

/// Appends one piece of serial traffic to `stream`: firmware-like garbage, a valid frame, a
/// frame with one byte flipped, or a frame cut short. Returns the frame when a valid one was
/// appended.
pub fn append_traffic(
    input: &mut Unstructured,
    stream: &mut Vec<u8>,
    frame: impl FnOnce(&mut Unstructured) -> Result<Frame>,
) -> Result<Option<Frame>> {
    match input.int_in_range(0..=5u8)? {
        0 => {
            let length = input.int_in_range(0..=64usize)?;
            stream.extend_from_slice(input.bytes(length)?);
            Ok(None)
        }
        1 => {
            let encoded = frame(input)?.encode();
            let mut bytes = encoded.as_bytes().to_vec();
            let index = input.choose_index(bytes.len())?;
            bytes[index] ^= input.int_in_range(1..=255u8)?;
            stream.extend_from_slice(&bytes);
            Ok(None)
        }
        2 => {
            let encoded = frame(input)?.encode();
            let bytes = encoded.as_bytes();
            let cut = input.choose_index(bytes.len())?;
            stream.extend_from_slice(&bytes[..cut]);
            Ok(None)
        }
        _ => {
            let frame = frame(input)?;
            stream.extend_from_slice(frame.encode().as_bytes());
            Ok(Some(frame))
        }
    }
}
