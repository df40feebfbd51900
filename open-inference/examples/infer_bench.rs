//! Times inference calls through this crate's client, for comparison with
//! `bench/direct_client.py` (Triton's own Python client) on the same server and
//! tensors. Prints one line of JSON.
//!
//! ```text
//! cargo run --release -p arterys-open-inference --example infer_bench -- \
//!     --url http://127.0.0.1:8000 --model demo_body --input image --shape 4,1,256,256 \
//!     --output probability --output tissue_logits
//! ```

use std::time::{Duration, Instant};

use arterys_open_inference::{Client, ClientOptions, InputTensor};

struct Args {
    url: String,
    model: String,
    input: String,
    shape: Vec<u64>,
    outputs: Vec<String>,
    iterations: usize,
    warmup: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        model: String::new(),
        input: String::new(),
        shape: Vec::new(),
        outputs: Vec::new(),
        iterations: 20,
        warmup: 3,
    };
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let value = words.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--url" => args.url = value,
            "--model" => args.model = value,
            "--input" => args.input = value,
            "--shape" => {
                args.shape = value
                    .split(',')
                    .map(|d| d.parse::<u64>().map_err(|e| format!("--shape {value}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--output" => args.outputs.push(value),
            "--iterations" => args.iterations = number(&value)?,
            "--warmup" => args.warmup = number(&value)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.url.is_empty() || args.model.is_empty() || args.input.is_empty() || args.shape.is_empty() {
        return Err("--url, --model, --input and --shape are required".to_owned());
    }
    if args.iterations == 0 {
        return Err("--iterations must be at least 1".to_owned());
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let client = Client::new(&args.url, ClientOptions::default())?;
    let len = args.shape.iter().product::<u64>() as usize;
    // Deterministic values in [-1, 1); speed does not depend on them.
    let data: Vec<f32> = (0..len).map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0).collect();
    let outputs: Vec<&str> = args.outputs.iter().map(String::as_str).collect();
    let input = [InputTensor::f32(&args.input, &args.shape, &data)];

    let call = || async {
        let result = client.infer(&args.model, None, &input, &outputs).await?;
        // Decode every output, as a caller would.
        let values = result.iter().map(|o| o.to_f32().map(|v| v.len())).collect::<Result<Vec<_>, _>>()?;
        Ok::<_, arterys_open_inference::Error>(values)
    };
    for _ in 0..args.warmup {
        call().await?;
    }
    let mut times = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let start = Instant::now();
        call().await?;
        times.push(start.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().map(|&d| ms(d)).sum::<f64>() / times.len() as f64;
    times.sort_unstable();
    let median = ms(times[times.len() / 2]);
    let min = ms(times[0]);
    println!(
        "{{\"client\": \"arterys-open-inference\", \"model\": {:?}, \"shape\": {:?}, \"iterations\": {}, \
         \"ms_per_call\": {mean:.3}, \"ms_median\": {median:.3}, \"ms_min\": {min:.3}}}",
        args.model, args.shape, args.iterations
    );
    Ok(())
}
