//! `send-inference-request`, built from the tool's library for this crate's tests (Cargo gives
//! integration tests the path of their own package's binaries only).

fn main() -> std::process::ExitCode {
    arterys_inference_test_tool::cli::main()
}
