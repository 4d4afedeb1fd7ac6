//! The free spawn functions: [`spawn`] and [`spawn_with`] on the current
//! runtime. [`Runtime`](crate::Runtime), [`Handle`](crate::Handle) and
//! [`Builder`](crate::Builder) are drama-pool's, re-exported.

use std::future::Future;

use drama_core::{JoinHandle, RejectReason, Rejected, Spawn};

/// Spawns `future` on the current runtime, inheriting the current task's
/// tenant and class.
///
/// ```
/// let rt = drama::Runtime::builder().workers(1).build()?;
/// let sum = rt.block_on(async {
///     let child = drama::spawn(async { 20 + 1 })?;
///     Ok::<_, Box<dyn std::error::Error>>(child.await? * 2)
/// })?;
/// assert_eq!(sum, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Hands the future back with [`RejectReason::NoRuntime`] outside a
/// runtime, and as [`Handle::spawn`](crate::Handle::spawn) otherwise.
pub fn spawn<F>(future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_with(Spawn::new(), future)
}

/// Spawns `future` with `spec` on the current runtime.
///
/// # Errors
///
/// As [`spawn`].
pub fn spawn_with<F>(spec: Spawn, future: F) -> Result<JoinHandle<F::Output>, Rejected<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(feature = "testing")]
    if let Some(rt) = crate::testing::current() {
        return rt.spawn_with(spec, future);
    }
    match drama_pool::Handle::current() {
        Some(handle) => handle.spawn_with(spec, future),
        None => Err(Rejected::new(future, RejectReason::NoRuntime)),
    }
}
