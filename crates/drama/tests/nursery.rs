//! Structured concurrency: children inherit the tenant, the nursery waits
//! for all of them, the first error or a drop cancels the rest.

use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drama::{Class, Runtime, Spawn, current, nursery};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Counts drops of the futures it is moved into.
struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn waits_for_every_child_and_children_inherit_the_tenant() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let acme = rt.tenant("acme").unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = {
        let seen = seen.clone();
        rt.spawn_with(Spawn::new().tenant(acme).class(Class::Read), async move {
            nursery(|n| async move {
                for _ in 0..50 {
                    let seen = seen.clone();
                    n.spawn(async move {
                        drama::yield_now().await;
                        let me = current().unwrap();
                        seen.lock().unwrap().push((me.tenant(), me.class()));
                        Ok(())
                    })?;
                }
                Ok::<_, Error>(7)
            })
            .await
        })
        .unwrap()
    };
    assert_eq!(rt.block_on(h).unwrap().unwrap(), 7);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 50, "the nursery returned before its children");
    assert!(seen.iter().all(|&(t, c)| t == acme && c == Class::Read));
}

#[test]
fn first_error_cancels_the_rest() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let result: Result<(), Error> = rt.block_on({
        let drops = drops.clone();
        nursery(|n| async move {
            for _ in 0..10 {
                let guard = DropCount(drops.clone());
                n.spawn(async move {
                    let _guard = guard;
                    pending::<Result<(), Error>>().await
                })?;
            }
            n.spawn(async { Err::<(), Error>("child failed".into()) })?;
            Ok(())
        })
    });
    assert_eq!(result.unwrap_err().to_string(), "child failed");
    // Every pending child was cancelled (its future dropped) before the
    // nursery returned.
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}

#[test]
fn body_error_cancels_children() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let result: Result<(), Error> = rt.block_on({
        let drops = drops.clone();
        nursery(|n| async move {
            let guard = DropCount(drops.clone());
            n.spawn(async move {
                let _guard = guard;
                pending::<Result<(), Error>>().await
            })?;
            Err("body failed".into())
        })
    });
    assert_eq!(result.unwrap_err().to_string(), "body failed");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_nursery_cancels_children() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let outer = {
        let drops = drops.clone();
        rt.spawn(async move {
            let _: Result<(), Error> = nursery(|n| async move {
                for _ in 0..5 {
                    let guard = DropCount(drops.clone());
                    n.spawn(async move {
                        let _guard = guard;
                        pending::<Result<(), Error>>().await
                    })?;
                }
                Ok(())
            })
            .await;
        })
        .unwrap()
    };
    // Give the children time to start, then abort the task that owns the
    // nursery: dropping its future drops the nursery.
    std::thread::sleep(Duration::from_millis(50));
    outer.abort();
    assert!(rt.block_on(outer).unwrap_err().is_cancelled());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while drops.load(Ordering::SeqCst) < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}
