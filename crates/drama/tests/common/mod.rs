//! Helpers shared by the facade's test files.

use drama::Runtime;

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
