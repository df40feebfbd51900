//! A complete inference service in a few lines: a box in the middle of every image.
//!
//! ```sh
//! cargo run -p arterys-gateway --example box_service          # listens on 0.0.0.0:8000
//! ```

use arterys_gateway::dicom::InstanceInfo;
use arterys_gateway::{BoundingBox, Gateway, HandlerError, InferenceInput, InferenceResponse};

fn handler(input: InferenceInput) -> Result<InferenceResponse, HandlerError> {
    let mut response = InferenceResponse::new();
    for part in &input.dicom {
        let info = InstanceInfo::read(&part.body)
            .map_err(|e| HandlerError::unprocessable(format!("part {}: {e}", part.index)))?;
        let (w, h) = (i64::from(info.columns), i64::from(info.rows));
        tracing::info!("box on a {w}x{h} image"); // carries the request's input_hash
        response.add_bounding_box(BoundingBox::new(
            "Finding",
            info.sop_instance_uid,
            [w / 4, h / 4],
            [w * 3 / 4, h * 3 / 4],
        ));
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    if let Err(e) = arterys_gateway::logging::init_from_file("logging.yaml") {
        eprintln!("logging: {e}");
    }
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8000u16);
    Gateway::new().route("/", handler).serve(("0.0.0.0", port)).await
}
