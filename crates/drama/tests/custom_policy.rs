//! A policy from another crate (drama-policy-fifo) runs the real runtime,
//! and a policy sees each task's metadata (its `Task` is opaque otherwise).

use std::sync::{Arc, Mutex};

use drama::policy::{Overflow, Picked, Policy, Task, Weight};
use drama::{Class, Runtime, TenantId};
use drama_policy_fifo::Fifo;

mod common;

#[test]
fn fifo_policy_runs_the_runtime() {
    let rt = Runtime::builder()
        .workers(2)
        .policy(|_worker| Fifo::new(1 << 20, 1 << 20))
        .build()
        .unwrap();
    let acme = rt.tenant("acme").unwrap();
    let handles: Vec<_> = (0..1000)
        .map(|i| {
            common::spawn_patiently(&rt, drama::Spawn::new().tenant(acme), async move {
                drama::yield_now().await;
                i
            })
        })
        .collect();
    let sum: usize = handles.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, 999 * 1000 / 2);
}

#[test]
fn tiny_policy_bounds_lose_nothing() {
    // A policy that holds 4 tasks: the rest spill, and still all run.
    let rt = Runtime::builder()
        .workers(2)
        .policy(|_worker| Fifo::new(4, 4))
        .build()
        .unwrap();
    let handles: Vec<_> = (0..500)
        .map(|i| {
            common::spawn_patiently(&rt, drama::Spawn::new(), async move {
                drama::yield_now().await;
                i
            })
        })
        .collect();
    let sum: usize = handles.into_iter().map(|h| rt.block_on(h).unwrap()).sum();
    assert_eq!(sum, 499 * 500 / 2);
}

/// FIFO, noting the name of every task it is given.
struct Noting {
    fifo: Fifo<Task>,
    names: Arc<Mutex<Vec<String>>>,
}

impl Policy<Task> for Noting {
    fn enqueue(
        &mut self,
        task: Task,
        tenant: TenantId,
        class: Class,
        now_ns: u64,
    ) -> Result<(), Overflow<Task>> {
        assert_eq!((task.meta().tenant(), task.meta().class()), (tenant, class));
        if let Some(name) = task.meta().name() {
            self.names.lock().unwrap().push(name.to_owned());
        }
        self.fifo.enqueue(task, tenant, class, now_ns)
    }

    fn pick(&mut self, now_ns: u64) -> Option<Picked<Task>> {
        self.fifo.pick(now_ns)
    }

    fn charge(&mut self, tenant: TenantId, class: Class, cost_ns: u64) {
        self.fifo.charge(tenant, class, cost_ns);
    }

    fn set_weight(&mut self, tenant: TenantId, weight: Weight) -> Result<(), Overflow<Weight>> {
        self.fifo.set_weight(tenant, weight)
    }

    fn len(&self) -> usize {
        self.fifo.len()
    }

    fn tenant_len(&self, tenant: TenantId) -> usize {
        self.fifo.tenant_len(tenant)
    }
}

#[test]
fn a_policy_reads_the_tasks_metadata() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let noted = names.clone();
    let rt = Runtime::builder()
        .workers(1)
        .policy(move |_worker| Noting {
            fifo: Fifo::new(1 << 10, 1 << 10),
            names: noted.clone(),
        })
        .build()
        .unwrap();
    let acme = rt.tenant("acme").unwrap();
    let spec = drama::Spawn::new()
        .tenant(acme)
        .class(Class::Read)
        .name("get");
    let h = common::spawn_patiently(&rt, spec, async {
        drama::yield_now().await; // requeued: the policy sees it again
        1
    });
    assert_eq!(rt.block_on(h).unwrap(), 1);
    let names = names.lock().unwrap();
    assert!(!names.is_empty(), "the policy saw no task");
    assert!(names.iter().all(|name| name == "get"), "{names:?}");
}
