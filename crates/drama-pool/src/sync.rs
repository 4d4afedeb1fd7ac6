//! The synchronization primitives the pool's protocols use, from `std`
//! normally and from [loom](https://docs.rs/loom) under `cfg(loom)`, so that
//! `cargo xtask loom` can explore every interleaving of the pool's
//! protocols (idle/wake and parking, the registry's race with shutdown, the
//! inbox, the outbox, the slot hand-over: the models in `loom.rs`), tokio's
//! approach.

// Every atomic, mutex and condition variable of the pool comes from here,
// so that no protocol bypasses loom by accident: this crate's clippy.toml
// refuses the `std` types (`disallowed-types`) everywhere, and only this
// module names them, to wrap them. The wrappers are transparent newtypes
// that deref to the `std` type: the same code and layout, a distinct name
// the lint can tell apart from the `std` one.
#[cfg(loom)]
#[allow(unused_imports)] // the loom build compiles only what its models use
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// Declares transparent wrappers of `std` synchronization types, each
/// with `std`'s `const fn new` (see the comment above).
#[cfg(not(loom))]
macro_rules! wrap {
    ($(
        $(#[$attr:meta])*
        $name:ident$(<$t:ident>)?($std:ty) = new($($arg:ident: $arg_ty:ty),*);
    )*) => {$(
        $(#[$attr])*
        #[repr(transparent)]
        #[derive(Debug, Default)]
        pub(crate) struct $name$(<$t>)?(
            #[allow(clippy::disallowed_types)] $std,
        );

        #[allow(clippy::disallowed_types)]
        impl$(<$t>)? $name$(<$t>)? {
            pub(crate) const fn new($($arg: $arg_ty),*) -> Self {
                Self(<$std>::new($($arg),*))
            }
        }

        #[allow(clippy::disallowed_types)]
        impl$(<$t>)? std::ops::Deref for $name$(<$t>)? {
            type Target = $std;

            #[inline(always)]
            fn deref(&self) -> &$std {
                &self.0
            }
        }
    )*};
}

#[cfg(not(loom))]
wrap! {
    /// `std`'s `AtomicBool`.
    AtomicBool(std::sync::atomic::AtomicBool) = new(value: bool);
    /// `std`'s `AtomicU8`.
    AtomicU8(std::sync::atomic::AtomicU8) = new(value: u8);
    /// `std`'s `AtomicU32`.
    AtomicU32(std::sync::atomic::AtomicU32) = new(value: u32);
    /// `std`'s `AtomicU64`.
    AtomicU64(std::sync::atomic::AtomicU64) = new(value: u64);
    /// `std`'s `AtomicUsize`.
    AtomicUsize(std::sync::atomic::AtomicUsize) = new(value: usize);
    /// `std`'s `AtomicPtr`.
    AtomicPtr<T>(std::sync::atomic::AtomicPtr<T>) = new(value: *mut T);
    /// `std`'s `Mutex`.
    Mutex<T>(std::sync::Mutex<T>) = new(value: T);
    /// `std`'s `Condvar`.
    Condvar(std::sync::Condvar) = new();
}

/// An `UnsafeCell` with loom's closure-based API, so that loom can check
/// every access against the happens-before order.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An `UnsafeCell` with loom's closure-based API (see the `cfg(loom)` twin).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` on a raw pointer to the value. The caller of `f` upholds the
    /// aliasing rules.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Locks a mutex, ignoring poisoning: the pool's mutexes guard plain data
/// that every critical section leaves consistent, and a panic elsewhere must
/// not take the scheduler down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    #[cfg(loom)]
    {
        mutex.lock().unwrap()
    }
    #[cfg(not(loom))]
    {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
