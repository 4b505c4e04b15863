//! Fuzzes the emulated-link frame decoder with arbitrary serial bytes (firmware text, torn and
//! corrupted frames), raw or built from a script of traffic pieces (seed bit 7). The first
//! byte seeds how the stream is cut into chunks, so the decoder's state is carried across
//! arbitrary `decode` calls; the same stream is also fed byte by byte through `push`/`pull`,
//! pushed without pulling, and decoded all at once.
//!
//! Checks: no panic; chunking never changes the frames or the counters; every byte is
//! accounted for (discarded + consumed by frames + still buffered = bytes fed); the buffer
//! never exceeds one frame; every decoded frame re-encodes to bytes that decode back to it; and
//! a frame built from the input encodes and decodes back to itself.
#![no_main]

use hyperv::emulated_link::{
    DecoderStatistics, FRAME_OVERHEAD, Frame, FrameDecoder, MAX_FRAME_LENGTH,
};
use hyperv_fuzz::{append_traffic, arbitrary_frame};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fn decode_at_once(stream: &[u8]) -> (Vec<Frame>, DecoderStatistics, usize) {
    let mut decoder = FrameDecoder::new();
    let frames: Vec<Frame> = decoder.decode(stream).collect();
    (frames, decoder.statistics(), decoder.buffered())
}

fn decode_in_chunks(stream: &[u8], seed: u8) -> (Vec<Frame>, DecoderStatistics, usize) {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        // xorshift: chunk sizes 0..=40 (0 exercises empty input).
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let take = (state % 41) as usize;
        let (chunk, next) = rest.split_at(take.min(rest.len()));
        frames.extend(decoder.decode(chunk));
        assert!(decoder.buffered() < MAX_FRAME_LENGTH);
        rest = next;
    }
    (frames, decoder.statistics(), decoder.buffered())
}

fn decode_byte_by_byte(stream: &[u8]) -> (Vec<Frame>, DecoderStatistics, usize) {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    for byte in stream {
        let mut next = decoder.push(*byte);
        while let Some(frame) = next {
            frames.push(frame);
            next = decoder.pull();
        }
        assert!(decoder.buffered() < MAX_FRAME_LENGTH);
    }
    (frames, decoder.statistics(), decoder.buffered())
}

/// Pushes without ever pulling (a misuse the decoder tolerates by dropping the oldest bytes).
fn decode_push_only(stream: &[u8]) -> (Vec<Frame>, DecoderStatistics, usize) {
    let mut decoder = FrameDecoder::new();
    let frames: Vec<Frame> = stream
        .iter()
        .filter_map(|byte| decoder.push(*byte))
        .collect();
    assert!(decoder.buffered() <= MAX_FRAME_LENGTH);
    (frames, decoder.statistics(), decoder.buffered())
}

fn assert_accounted(result: &(Vec<Frame>, DecoderStatistics, usize), fed: usize) {
    let (frames, statistics, buffered) = result;
    assert_eq!(statistics.frames, frames.len() as u64);
    assert!(statistics.checksum_failures <= statistics.discarded_bytes);
    let frame_bytes: u64 = frames
        .iter()
        .map(|frame| (FRAME_OVERHEAD + frame.kind().payload_length()) as u64)
        .sum();
    assert_eq!(
        statistics.discarded_bytes + frame_bytes + *buffered as u64,
        fed as u64,
        "bytes unaccounted for"
    );
}

fn assert_round_trip(frame: &Frame) {
    let encoded = frame.encode();
    assert_eq!(
        encoded.as_bytes().len(),
        FRAME_OVERHEAD + frame.kind().payload_length()
    );
    let mut decoder = FrameDecoder::new();
    let decoded: Vec<Frame> = decoder.decode(encoded.as_bytes()).collect();
    assert_eq!(decoded, [*frame]);
    assert_eq!(decoder.statistics().discarded_bytes, 0);
    assert_eq!(decoder.buffered(), 0);
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    // Seed bit 7: the rest is a script of traffic pieces (valid, corrupted and torn frames
    // among garbage) rather than raw bytes.
    let mut built = Vec::new();
    let stream = if seed & 0x80 != 0 {
        let mut input = Unstructured::new(rest);
        while !input.is_empty() {
            match append_traffic(&mut input, &mut built, arbitrary_frame) {
                Ok(_) => {}
                Err(_) => break,
            }
        }
        &built[..]
    } else {
        rest
    };
    let whole = decode_at_once(stream);
    let chunked = decode_in_chunks(stream, seed);
    let single = decode_byte_by_byte(stream);
    assert_eq!(whole, chunked, "chunking changed the result");
    assert_eq!(whole, single, "push/pull differs from decode");

    assert_accounted(&whole, stream.len());
    assert_accounted(&decode_push_only(stream), stream.len());
    for frame in &whole.0 {
        assert_round_trip(frame);
    }

    let mut input = Unstructured::new(rest);
    if let Ok(frame) = arbitrary_frame(&mut input) {
        assert_round_trip(&frame);
    }
});
