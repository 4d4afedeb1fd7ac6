//! Waiting for admission: [`Admit`], the future of `Handle::admit`.
//!
//! A refused `try_admit` tells the caller to come back later; `admit`
//! comes back by itself. A waiting caller registers its waker; at every
//! monitor step (every couple of milliseconds while the pool is busy) all
//! waiters are woken and ask again. Each asks by the same rules as a spawn,
//! so waiting tenants are served fairly, not first come first served: while
//! a heavy tenant is over its share its waiters keep being refused, and a
//! light tenant's waiter is admitted at its next try. Waiting is bounded:
//! in time (a waiter gives up at its deadline with the last refusal) and in
//! number (`MAX_WAITERS`); shutdown wakes every waiter with a refusal.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use drama_core::{RejectReason, Rejected};
use drama_policy::{Class, TenantId};
use slab::Slab;

use crate::api::Permit;
use crate::pool::Shared;
use crate::sync::{Arc, Mutex, lock};

/// The most callers waiting for admission at once: each is woken at every
/// monitor step while it waits, so the wake-ups cost grows with them; a
/// few thousand waiters is already a backlog the load balancer in front
/// should see, and more are refused at once.
pub(crate) const MAX_WAITERS: usize = 4096;

/// How long `admit` waits by default before it gives up: a second. An
/// accept loop that waits leaves connections in the kernel's backlog, which
/// is the backpressure wanted; past a second the caller is better told
/// no (and the load balancer in front, by the load score, long since).
pub const DEFAULT_ADMIT_PATIENCE: Duration = Duration::from_secs(1);

/// The wakers of the callers waiting for admission.
pub(crate) struct Waiters {
    wakers: Mutex<Slab<Waker>>,
}

impl Waiters {
    pub(crate) fn new() -> Waiters {
        Waiters {
            wakers: Mutex::new(Slab::new()),
        }
    }

    /// Wakes every waiter to ask again (a monitor step, or shutdown).
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> = lock(&self.wakers).iter().map(|(_, w)| w.clone()).collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether anyone waits.
    pub(crate) fn any(&self) -> bool {
        !lock(&self.wakers).is_empty()
    }
}

/// Waits until the pool admits `tenant`'s work in `class`, or refuses it
/// for good; from [`Handle::admit`](crate::Handle::admit).
#[must_use = "a future does nothing unless awaited"]
pub struct Admit {
    shared: Arc<Shared>,
    tenant: TenantId,
    class: Class,
    patience: Duration,
    /// When the first try was refused; the waiter gives up `patience`
    /// after it.
    since: Option<Instant>,
    /// This waiter's entry in `Waiters`, while it waits.
    key: Option<usize>,
}

impl Admit {
    pub(crate) fn new(shared: Arc<Shared>, tenant: TenantId, class: Class) -> Admit {
        Admit {
            shared,
            tenant,
            class,
            patience: DEFAULT_ADMIT_PATIENCE,
            since: None,
            key: None,
        }
    }

    /// Waits at most `patience` (default [`DEFAULT_ADMIT_PATIENCE`]);
    /// zero tries once, as `try_admit`.
    pub fn within(mut self, patience: Duration) -> Admit {
        self.patience = patience;
        self
    }

    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.shared.waiters.wakers).try_remove(key);
        }
    }
}

impl Future for Admit {
    type Output = Result<Permit, Rejected<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let refused = match crate::api::try_admit(&this.shared, this.tenant, this.class) {
            Ok(permit) => {
                this.leave();
                return Poll::Ready(Ok(permit));
            }
            Err(refused) => refused,
        };
        // Refusals no wait can cure: shutting down, an invalid tenant.
        if !this.shared.state.is_open()
            || matches!(
                refused.reason(),
                RejectReason::ShuttingDown | RejectReason::InvalidTenant
            )
        {
            this.leave();
            return Poll::Ready(Err(refused));
        }
        let since = *this.since.get_or_insert_with(Instant::now);
        if since.elapsed() >= this.patience {
            this.leave();
            return Poll::Ready(Err(refused));
        }
        let mut wakers = lock(&this.shared.waiters.wakers);
        match this.key {
            Some(key) => {
                if let Some(waker) = wakers.get_mut(key) {
                    waker.clone_from(cx.waker());
                }
            }
            None => {
                if wakers.len() >= MAX_WAITERS {
                    drop(wakers);
                    return Poll::Ready(Err(refused));
                }
                this.key = Some(wakers.insert(cx.waker().clone()));
            }
        }
        drop(wakers);
        // The monitor steps (and wakes the waiters) while the pool is
        // busy; make sure it runs now even if the pool is idle.
        this.shared.sleepers.wake_monitor();
        Poll::Pending
    }
}

impl Drop for Admit {
    fn drop(&mut self) {
        self.leave();
    }
}

impl std::fmt::Debug for Admit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admit")
            .field("tenant", &self.tenant)
            .field("class", &self.class)
            .field("patience", &self.patience)
            .finish_non_exhaustive()
    }
}
