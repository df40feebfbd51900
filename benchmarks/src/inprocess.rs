//! The in-process benchmarks: the codec alone, the test tool's drawing, the ONNX model.

use super::*;

fn input_of(slices: &[Bytes]) -> InferenceInput {
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

pub(crate) async fn model() {
    println!("\n## 5. The demo ONNX model (256x256, batches of 4)");
    let config_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mock-server/models/demo_body.yaml");
    let config = arterys_mock_server::model::config::ModelConfig::load(&config_path).unwrap_or_else(|e| fail(&e));
    let model_path = config.model.clone().unwrap_or_default();
    let batch = config.input.batch;
    let model = arterys_mock_server::model::OnnxModel::load(&model_path, config).unwrap_or_else(|e| fail(&e));
    let input: Vec<f32> = (0..batch * 256 * 256).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let _ = model.run(input.clone());
    let runs = 20;
    let t = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(model.run(input.clone()).unwrap_or_else(|e| fail(&e)));
    }
    let tract_ms = t.elapsed().as_secs_f64() * 1e3 / (runs * batch) as f64;
    let ort = onnxruntime_ms(&model_path, batch, runs);
    match ort {
        Some(ort_ms) => println!("RESULT model: tract {tract_ms:.2} ms/slice, onnxruntime {ort_ms:.2} ms/slice: tract/onnxruntime = {:.2}x", tract_ms / ort_ms),
        None => println!("RESULT model: tract {tract_ms:.2} ms/slice (onnxruntime not installed: python3 -m pip install onnxruntime numpy)"),
    }

    // The gateway's share of a request: HTTP round-trip against the handler alone.
    let slices: Vec<Bytes> = (0..60)
        .map(|i| Bytes::from(arterys_gateway::dicom::synthetic::ct_slice(SERIES, i, 512, 512).unwrap_or_default()))
        .collect();
    let input = input_of(&slices);
    let t = Instant::now();
    let r = model.answer(&input).unwrap_or_else(|e| fail(&e.to_string()));
    let handler = t.elapsed();
    std::hint::black_box(r);
    let server = Server::start(&["--mode", "auto", "--model-config", config_path.to_str().unwrap_or_default()]);
    let client = client();
    let _ = exchange(&client, server.addr, "/model", request_body(&slices[..1])).await;
    let t = Instant::now();
    let (status, parts, _) =
        exchange(&client, server.addr, "/model", request_body(&slices)).await.unwrap_or_else(|e| fail(&e));
    let wall = t.elapsed();
    if status != 200 || parts < 2 {
        fail(&format!("model request: status {status}, {parts} parts"));
    }
    println!(
        "RESULT model request ({} slices): {:.0} ms round trip, handler {:.0} ms: the gateway and transport take {:.1}%",
        slices.len(),
        wall.as_secs_f64() * 1e3,
        handler.as_secs_f64() * 1e3,
        (1.0 - handler.as_secs_f64() / wall.as_secs_f64()).max(0.0) * 100.0
    );
}

/// onnxruntime's time per slice on the same model and input shape, through Python.
fn onnxruntime_ms(model: &Path, batch: usize, runs: usize) -> Option<f64> {
    let script = format!(
        "import time, numpy as np, onnxruntime as ort\n\
         o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1\n\
         s = ort.InferenceSession({model:?}, o, providers=['CPUExecutionProvider'])\n\
         x = (np.arange({n}) * 7919 % 1000).astype(np.float32).reshape({batch}, 1, 256, 256) / 1000\n\
         s.run(None, {{'image': x}})\n\
         t = time.perf_counter()\n\
         for _ in range({runs}): s.run(None, {{'image': x}})\n\
         print((time.perf_counter() - t) * 1000 / ({runs} * {batch}))\n",
        model = model.display().to_string(),
        n = batch * 256 * 256,
    );
    let out = Command::new("python3").args(["-c", &script]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
