//! The in-process benchmarks: the codec alone and the test tool's drawing (the models are in
//! `models`).

use super::*;

pub(crate) fn input_of(slices: &[Bytes]) -> InferenceInput {
    InferenceInput::from_dicom(Default::default(), slices.iter().cloned())
}

pub(crate) fn codec(slices: &[Bytes]) {
    println!("\n## 3. Codec alone");
    let (floor, hashed) = hash_floor(slices);
    let sha = hashed as f64 / floor.as_secs_f64();
    let body: Vec<u8> = request_body(slices).flat_map(|b| b.to_vec()).collect();
    let t = Instant::now();
    let mut d = MultipartDecoder::new("bench-boundary-7f3a").unwrap_or_else(|e| fail(&e.to_string()));
    for chunk in body.chunks(64 * 1024) {
        d.feed(chunk).unwrap_or_else(|e| fail(&e.to_string()));
    }
    let (parts, digest) = d.finish().unwrap_or_else(|e| fail(&e.to_string()));
    let dec = body.len() as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box((parts.len(), digest));
    drop(parts);
    println!(
        "RESULT decode (copy + SHA-256, 64 KiB chunks): {:.0} MB/s = {:.2}x SHA-256 alone ({:.0} MB/s)",
        dec / MB,
        dec / sha,
        sha / MB
    );

    let t = Instant::now();
    let mut n = 0;
    for frame in request_body(slices).with_hashes(hex(&[0; 32])) {
        n += frame.len();
    }
    let enc = n as f64 / t.elapsed().as_secs_f64();
    println!("RESULT encode (zero-copy frames + SHA-256): {:.0} MB/s = {:.2}x SHA-256 alone", enc / MB, enc / sha);

    let shape = MaskShape::volume(slices.len() as u32, 512, 512);
    let t = Instant::now();
    let m = Mask::from_fn(shape, |v| (v.x ^ v.y) as u8).unwrap_or_else(|e| fail(&e.to_string()));
    let from_fn = m.data().len() as f64 / t.elapsed().as_secs_f64();
    drop(m);
    // The input (and its input hash) is built outside the timing: the handler alone is measured.
    let input = input_of(slices);
    let t = Instant::now();
    let r = arterys_mock_server::answer(Mode::Seg3d, input).unwrap_or_else(|e| fail(&e.to_string()));
    let seg = t.elapsed();
    let bytes: usize = r.buffers().iter().map(Bytes::len).sum();
    println!(
        "RESULT masks: Mask::from_fn {:.0} MB/s; mock seg3d handler (headers of {} slices + a {:.1} MB mask) {:.1} ms = {:.0} MB/s of mask",
        from_fn / MB,
        slices.len(),
        bytes as f64 / MB,
        seg.as_secs_f64() * 1e3,
        bytes as f64 / seg.as_secs_f64() / MB
    );
}

pub(crate) fn render(slices: &[Bytes]) {
    println!("\n## 4. Test tool rendering the study's PNGs");
    let dir = std::env::temp_dir().join(format!("bench-render-{}", std::process::id()));
    let (src, out) = (dir.join("study"), dir.join("out"));
    let _ = std::fs::create_dir_all(&src);
    let _ = std::fs::create_dir_all(&out);
    for (i, s) in slices.iter().enumerate() {
        let _ = std::fs::write(src.join(format!("{i:04}.dcm")), s);
    }
    let study = arterys_inference_test_tool::input::load(&src, |_| {}).unwrap_or_else(|e| fail(&e.to_string()));
    let response = arterys_mock_server::answer(
        Mode::Seg3d,
        input_of(&study.instances.iter().map(|i| i.bytes.clone()).collect::<Vec<_>>()),
    )
    .unwrap_or_else(|e| fail(&e.to_string()));
    let t = Instant::now();
    let (items, failures) = arterys_inference_test_tool::output::render_pngs(&study, Some(&response), &out, false)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let secs = t.elapsed().as_secs_f64();
    if !failures.is_empty() {
        fail(&format!("render failures: {failures:?}"));
    }
    println!(
        "RESULT render: {} slices with the seg3d overlay in {:.2} s = {:.0} slices/s on {} threads (target >= 100)",
        items.len(),
        secs,
        items.len() as f64 / secs,
        cpus()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
