//! The multipart decoder on arbitrary bodies, fed whole and in arbitrary chunks: it must never
//! panic, and chunking (or knowing the body's length) must not change the parts, the hash or
//! the error.
#![no_main]

use arterys_protocol::multipart::MultipartDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else { return };
    let boundary = ["b", "xyz", "a'b", "--", "\u{1}"][usize::from(control % 5)];
    let chunk = usize::from(control / 5).max(1);
    let Ok(mut whole) = MultipartDecoder::new(boundary) else { return };
    let whole_fed = whole.feed(body);
    let whole_result = whole_fed.and_then(|()| whole.finish());
    let mut pieces = match MultipartDecoder::new(boundary) {
        // The body's length sizes buffers only: half the runs are told it.
        Ok(d) if control % 2 == 0 => d.with_body_len(body.len() as u64),
        Ok(d) => d,
        Err(_) => return,
    };
    let mut failed = None;
    for c in body.chunks(chunk) {
        if let Err(e) = pieces.feed(c) {
            failed = Some(e);
            break;
        }
    }
    let pieces_result = match failed {
        Some(e) => Err(e),
        None => pieces.finish(),
    };
    match (&whole_result, &pieces_result) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunk size {chunk} changed the result"),
        (Err(a), Err(b)) => assert_eq!(a, b, "chunk size {chunk} changed the error"),
        _ => panic!("chunk size {chunk}: {whole_result:?} vs {pieces_result:?}"),
    }
});
