//! A tour of drama's task layer on a single-threaded executor: tenants and
//! classes, inheritance, a panic that is reported instead of crashing, an
//! abort, and a refused spawn that hands its future back.
//!
//! Run it with `cargo run --example quickstart`.

use std::future::pending;
use std::num::NonZeroUsize;

use drama::{Class, LocalExecutor, Spawn, TenantId, current, yield_now};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ex = LocalExecutor::with_max_tasks(NonZeroUsize::new(64).expect("non-zero"));
    let spawner = ex.spawner();
    let acme = TenantId::new(1);
    let globex = TenantId::new(2);

    println!("1. Tasks carry a tenant and a class; children inherit both.");
    let mut handles = Vec::new();
    for (tenant, class, name) in [
        (acme, Class::Write, "acme-flush"),
        (globex, Class::Read, "globex-get"),
    ] {
        let spawner = spawner.clone();
        let spec = Spawn::new().tenant(tenant).class(class).name(name);
        handles.push(ex.spawn_with(spec, async move {
            let me = current().expect("inside a task");
            // Spawned without a spec: inherits tenant and class from `me`.
            let child = spawner
                .spawn(async { current().expect("inside a task") })
                .expect("room for the child");
            yield_now().await;
            let child = child.await.expect("the child completes");
            format!(
                "   task {} {:<10} of {} ({}) spawned task {} of {} ({})",
                me.id(),
                me.name().unwrap_or("-"),
                me.tenant(),
                me.class(),
                child.id(),
                child.tenant(),
                child.class(),
            )
        })?);
    }
    for handle in handles {
        println!("{}", ex.block_on(handle)?);
    }

    println!("2. A panic is caught and reported through the task's handle.");
    // The panic hook still runs where the panic happens; keep its report to
    // one line so the demo stays readable.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()));
        println!("   (panic hook: a task panicked{})", at.unwrap_or_default());
    }));
    let crashing = ex.spawn_with(Spawn::new().tenant(globex).name("buggy"), async {
        yield_now().await;
        let empty: Vec<u32> = Vec::new();
        empty[3] // index out of bounds
    })?;
    match ex.block_on(crashing) {
        Ok(v) => println!("   unexpected value {v}"),
        Err(e) => println!("   {e}"),
    }
    let after = ex.spawn(async { "the executor is still running" })?;
    println!("   and then: {}", ex.block_on(after)?);

    println!("3. An aborted task's future is dropped; its handle says so.");
    let stuck = ex.spawn_with(Spawn::new().tenant(acme).name("stuck"), pending::<()>())?;
    ex.block_on(yield_now());
    stuck.abort();
    println!("   {}", ex.block_on(stuck).unwrap_err());

    println!("4. At the task bound a spawn is refused and the future comes back.");
    let fillers: Vec<_> = (0..ex.max_tasks())
        .map(|_| ex.spawn(pending::<()>()))
        .collect::<Result<_, _>>()?;
    let refused = ex.spawn(async { 6 * 7 }).unwrap_err();
    println!("   {refused} ({} live tasks)", ex.n_tasks());
    for filler in &fillers {
        filler.abort();
    }
    ex.block_on(async move {
        for filler in fillers {
            let _ = filler.await;
        }
    });
    let retried = ex.spawn(refused.into_inner())?;
    println!("   retried once there was room: {}", ex.block_on(retried)?);
    Ok(())
}
