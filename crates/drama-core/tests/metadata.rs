//! Metadata: every task carries an id, tenant, class, spawn instant and
//! name; it reads its own; a child inherits tenant and class.

mod common;

use std::collections::HashSet;
use std::time::Instant;

use drama_core::{Class, LocalExecutor, Spawn, TenantId, current};

#[test]
fn a_task_sees_its_own_metadata() {
    let ex = LocalExecutor::new();
    let before = Instant::now();
    let handle = ex
        .spawn_with(
            Spawn::new()
                .tenant(TenantId::new(3))
                .class(Class::Write)
                .name("flush"),
            async { current().unwrap() },
        )
        .unwrap();
    let after = Instant::now();
    let id = handle.id();
    let meta = ex.block_on(handle).unwrap();
    assert_eq!(meta.id(), id);
    assert_eq!(meta.tenant(), TenantId::new(3));
    assert_eq!(meta.class(), Class::Write);
    assert_eq!(meta.name(), Some("flush"));
    // The spawn instant comes from drama's calibrated clock (the TSC where
    // there is one), which agrees with `Instant` to well under a millisecond.
    let slack = std::time::Duration::from_millis(1);
    assert!(before - slack <= meta.spawned_at() && meta.spawned_at() <= after + slack);
}

#[test]
fn defaults_outside_any_task() {
    let ex = LocalExecutor::new();
    let handle = ex.spawn(async { current().unwrap() }).unwrap();
    let meta = ex.block_on(handle).unwrap();
    assert_eq!(meta.tenant(), TenantId::DEFAULT);
    assert_eq!(meta.class(), Class::Compute);
    assert_eq!(meta.name(), None);
}

#[test]
fn no_current_task_outside_tasks() {
    assert!(current().is_none());
    let ex = LocalExecutor::new();
    assert!(
        ex.block_on(async { current() }).is_none(),
        "block_on's future is not a task"
    );
}

#[test]
fn a_child_inherits_tenant_and_class_but_not_the_name() {
    let ex = LocalExecutor::new();
    let spawner = ex.spawner();
    let parent = ex
        .spawn_with(
            Spawn::new()
                .tenant(TenantId::new(8))
                .class(Class::Accept)
                .name("listener"),
            async move {
                let child = spawner.spawn(async { current().unwrap() }).unwrap();
                let reclassed = spawner
                    .spawn_with(Spawn::new().class(Class::Read), async {
                        current().unwrap()
                    })
                    .unwrap();
                let parent = current().unwrap();
                (parent, child.await.unwrap(), reclassed.await.unwrap())
            },
        )
        .unwrap();
    let (parent, child, reclassed) = ex.block_on(parent).unwrap();
    assert_eq!(
        (child.tenant(), child.class(), child.name()),
        (TenantId::new(8), Class::Accept, None)
    );
    assert_ne!(child.id(), parent.id());
    assert_eq!(
        (reclassed.tenant(), reclassed.class()),
        (TenantId::new(8), Class::Read)
    );
    // The parent's metadata is current again after its children ran.
    assert_eq!(parent.name(), Some("listener"));
}

/// The current task is restored after a nested `block_on` of another
/// executor inside a task.
#[test]
fn nested_executors_restore_the_current_task() {
    let outer = LocalExecutor::new();
    let handle = outer
        .spawn_with(Spawn::new().tenant(TenantId::new(1)), async {
            let inner = LocalExecutor::new();
            let h = inner
                .spawn_with(Spawn::new().tenant(TenantId::new(2)), async {
                    current().unwrap().tenant()
                })
                .unwrap();
            let inner_tenant = inner.block_on(h).unwrap();
            (inner_tenant, current().unwrap().tenant())
        })
        .unwrap();
    assert_eq!(
        outer.block_on(handle).unwrap(),
        (TenantId::new(2), TenantId::new(1))
    );
}

#[test]
fn ids_are_unique() {
    let ex = LocalExecutor::new();
    let n = common::scaled(10_000);
    let ids: HashSet<_> = (0..n).map(|_| ex.spawn(async {}).unwrap().id()).collect();
    assert_eq!(ids.len(), n);
}
