//! One memory budget per process: two gateways made with `Gateway::new()` count against the
//! same bytes. The only test in its binary, since it sets the process's budget.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use arterys_gateway::budget::MemoryBudget;
use arterys_gateway::{Gateway, InferenceResponse};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_in_one_process_share_its_budget() {
    let process = MemoryBudget::init_process(MemoryBudget::from_mib(64).with_wait(Duration::from_millis(300)));
    assert_eq!(process.total(), 64 << 20);
    let a = Gateway::new().route("/", |_| Ok(InferenceResponse::new()));
    let b = Gateway::new().route("/", |_| Ok(InferenceResponse::new()));
    assert!(a.budget().same_as(&b.budget()) && a.budget().same_as(&MemoryBudget::process()));
    // Told otherwise, a gateway has its own.
    assert!(!Gateway::new().memory_budget(MemoryBudget::from_mib(64)).budget().same_as(&process));
    let (a, b) = (start(a).await, start(b).await);

    let dcm = read_dicom("pydicom/CT_small.dcm");
    let ct = format!("multipart/related; boundary={BOUNDARY}");
    // Small enough to sit in the loopback socket buffers whole: this test is about whose budget
    // refuses it, not about draining a refused body (tests/linger.rs).
    let mut body = request("{}", &[&dcm]);
    body.resize(1 << 20, b'\n');
    // Room taken through one gateway's budget is missing from the other's.
    let held = MemoryBudget::process().try_reserve((63 << 20) + (768 << 10)).unwrap();
    for addr in [a, b] {
        let r = send(addr, "POST", "/", Some(&ct), body.clone()).await;
        assert_eq!(r.status, 503, "{}", r.text());
    }
    drop(held);
    for addr in [a, b] {
        assert_eq!(send(addr, "POST", "/", Some(&ct), body.clone()).await.status, 200);
    }
    assert_eq!(process.used(), 0);
}
