//! Helpers shared by the facade's test files.

#![allow(dead_code)] // each test file uses some of them

use std::time::Duration;

use drama::{JoinHandle, RejectReason, Runtime, Spawn};

/// A runtime a test floods on purpose: admission never refuses by load
/// (only the task bound would), so that every spawn of the flood is taken
/// and the behaviour under test is not admission's.
pub(crate) fn flood_runtime() -> Runtime {
    Runtime::builder()
        .workers(2)
        .admission(drama::admission::AdmissionConfig::off())
        .build()
        .unwrap()
}

/// Spawns `future` as a caller that respects backpressure does: a spawn
/// refused for load is retried after the hint the refusal gives (a burst
/// of a thousand spawns from outside into a debug build's pool on a
/// loaded machine is more than a window's wait, and admission says so).
/// Any other refusal is a test failure.
pub(crate) fn spawn_patiently<F>(rt: &Runtime, spec: Spawn, mut future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    loop {
        match rt.spawn_with(spec.clone(), future) {
            Ok(handle) => return handle,
            Err(refused) if refused.reason() == RejectReason::Overloaded => {
                let wait = refused.retry_after().unwrap_or(Duration::from_millis(1));
                std::thread::sleep(wait.min(Duration::from_millis(10)));
                future = refused.into_inner();
            }
            Err(refused) => panic!("spawn refused: {:?}", refused.reason()),
        }
    }
}
