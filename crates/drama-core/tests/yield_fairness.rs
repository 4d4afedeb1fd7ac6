//! Yield fairness: a task that yields goes behind every task that was ready.

use std::sync::{Arc, Mutex};

use drama_core::{LocalExecutor, yield_now};

fn record_turns(n_tasks: usize, n_turns: usize, spawn_inside: bool) -> Vec<usize> {
    let ex = LocalExecutor::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let spawner = ex.spawner();
    let spawn_all = {
        let log = log.clone();
        move || {
            (0..n_tasks)
                .map(|id| {
                    let log = log.clone();
                    spawner
                        .spawn(async move {
                            for _ in 0..n_turns {
                                log.lock().unwrap().push(id);
                                yield_now().await;
                            }
                        })
                        .unwrap()
                })
                .collect::<Vec<_>>()
        }
    };
    if spawn_inside {
        ex.block_on(async move {
            for h in spawn_all() {
                h.await.unwrap();
            }
        });
    } else {
        let handles = spawn_all();
        ex.block_on(async move {
            for h in handles {
                h.await.unwrap();
            }
        });
    }
    log.lock().unwrap().clone()
}

fn round_robin(n_tasks: usize, n_turns: usize) -> Vec<usize> {
    (0..n_turns).flat_map(|_| 0..n_tasks).collect()
}

#[test]
fn two_yielding_tasks_interleave() {
    assert_eq!(record_turns(2, 5, false), round_robin(2, 5));
}

#[test]
fn two_yielding_tasks_spawned_by_a_task_interleave() {
    assert_eq!(record_turns(2, 5, true), round_robin(2, 5));
}

#[test]
fn every_ready_task_runs_before_a_yielder_resumes() {
    assert_eq!(record_turns(7, 20, false), round_robin(7, 20));
}
