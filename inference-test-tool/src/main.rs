//! `send-inference-request`: sends a DICOM study to an Arterys inference service, checks the
//! answer against the protocol, and draws what the viewer would show as PNG overlays.

fn main() -> std::process::ExitCode {
    arterys_inference_test_tool::cli::main()
}
