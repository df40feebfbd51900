//! No Docker engine runs here: check what can be checked of the compose file and Dockerfile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn read(rel: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../").to_owned() + rel).unwrap()
}

#[test]
fn compose_serves_8900_with_a_health_check_and_real_flags() {
    let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read("docker-compose.yml")).expect("compose parses");
    let svc = &compose["services"]["inference"];
    let ports: Vec<&str> = svc["ports"].as_sequence().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(ports, vec!["8900:8000"]);
    // The container side of the mapping is the port the command tells the server to use.
    let command: Vec<&str> = svc["command"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let port = command.iter().position(|a| *a == "--port").map(|i| command[i + 1]).expect("--port in command");
    assert_eq!(Some(port), ports[0].split_once(':').map(|(_, c)| c));
    // Docker waits stop_grace_period after SIGTERM before it kills: at least the server's own
    // shutdown grace, or in-flight studies are cut off.
    let grace = svc["stop_grace_period"].as_str().expect("stop_grace_period");
    let secs: u64 = grace.strip_suffix('s').and_then(|n| n.parse().ok()).expect("stop_grace_period in seconds");
    assert!(
        std::time::Duration::from_secs(secs) >= arterys_mock_server::SHUTDOWN_GRACE,
        "stop_grace_period {grace} is shorter than the server's shutdown grace"
    );
    let test: Vec<&str> =
        svc["healthcheck"]["test"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(test[0], "CMD");
    assert!(test.join(" ").contains("/healthcheck") && test.join(" ").contains("READY"));
    assert!(svc["volumes"].as_sequence().unwrap().iter().any(|v| v.as_str().unwrap().contains("logging.yaml")));

    // Every flag the compose command and the Dockerfile's CMD pass is a real flag of the binary.
    let help = Command::new(env!("CARGO_BIN_EXE_mock-server")).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let dockerfile = read("Dockerfile");
    // The mock's stage is the last one (the default target); its CMD is the last.
    let cmd_line = dockerfile.lines().rev().find(|l| l.starts_with("CMD ")).expect("CMD");
    let cmd_flags = cmd_line.split('"').filter(|s| s.starts_with("--")).map(str::to_owned);
    for flag in command.iter().filter(|a| a.starts_with("--")).map(|s| s.to_string()).chain(cmd_flags) {
        assert!(help.contains(&format!("{flag} ")), "{flag} is not a mock-server flag");
    }
    // The compose command parses: run the binary's argument parser on it with --help appended
    // would exit 0; instead check a bad flag really is refused, so the check above means something.
    let bad = Command::new(env!("CARGO_BIN_EXE_mock-server")).arg("--no-such-flag").output().unwrap();
    assert!(!bad.status.success());
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        last_stage.starts_with("${DEBIAN_IMAGE} AS mock-server") && dockerfile.contains("ARG DEBIAN_IMAGE=debian:"),
        "the mock is the default target"
    );
    assert!(last_stage.contains("USER 10001") && dockerfile.contains("AS build"), "multi-stage, non-root");
    assert!(dockerfile.contains("EXPOSE 8000"));
}

#[test]
fn health_check_command_works_against_a_real_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-server"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read("docker-compose.yml")).unwrap();
    let script =
        compose["services"]["inference"]["healthcheck"]["test"][3].as_str().unwrap().replace("8000", &port.to_string());
    let mut healthy = false;
    for _ in 0..100 {
        if Command::new("bash")
            .args(["-c", &script])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy, "the compose health check never passed");
}
