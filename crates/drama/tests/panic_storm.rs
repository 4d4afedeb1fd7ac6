//! A storm of panicking tasks: every panic reaches its handle, no worker
//! thread dies, and the runtime keeps running tasks on every worker.

use std::time::Duration;

mod common;
use common::flood_runtime;

#[test]
fn panic_storm() {
    const N: usize = 100_000;
    // 100,000 panic messages on stderr would be most of the test's time.
    std::panic::set_hook(Box::new(|_| {}));
    let rt = flood_runtime();
    let handles: Vec<_> = (0..N)
        .map(|i| rt.spawn(async move { panic!("task {i} panics") }).unwrap())
        .collect();
    let mut panics = 0;
    for handle in handles {
        let error = rt.block_on(handle).unwrap_err();
        assert!(error.is_panic());
        panics += 1;
    }
    assert_eq!(panics, N);
    // Every worker is still there, and still runs work.
    assert_eq!(rt.n_threads(), 2);
    let handles: Vec<_> = (0..1000)
        .map(|i| rt.spawn(async move { i }).unwrap())
        .collect();
    let sum: usize = handles.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, 999 * 1000 / 2);
    assert!(rt.shutdown_timeout(Duration::from_secs(5)));
}

#[test]
fn panic_payload_comes_back() {
    let rt = flood_runtime();
    let h = rt.spawn(async { std::panic::panic_any(42u32) }).unwrap();
    let payload = rt.block_on(h).unwrap_err().into_panic();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
}
