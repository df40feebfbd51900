//! jemalloc set to hand freed memory back to the OS at once (feature `jemalloc`), for servers
//! that make jemalloc their global allocator.

/// Freed pages go back to the OS at once (jemalloc's background thread does the rest), so the
/// memory budget's free room is free in the OS's eyes too; without this a burst's freed
/// memory stayed resident, and the next burst's RSS went past the budget.
///
/// Call it first thing in `main` of a binary whose `#[global_allocator]` is
/// `tikv_jemallocator::Jemalloc`.
pub fn return_memory_promptly() -> Result<(), tikv_jemalloc_ctl::Error> {
    use tikv_jemalloc_ctl::{Access, AsName};
    b"arenas.dirty_decay_ms\0".name().write(0isize)?;
    b"arenas.muzzy_decay_ms\0".name().write(0isize)?;
    // The arenas made already keep the values they were made with; the others do not exist
    // yet (the call fails for them) and will take the new defaults.
    for i in 0..tikv_jemalloc_ctl::arenas::narenas::read()? {
        let _ = format!("arena.{i}.dirty_decay_ms\0").as_bytes().name().write(0isize);
        let _ = format!("arena.{i}.muzzy_decay_ms\0").as_bytes().name().write(0isize);
    }
    tikv_jemalloc_ctl::background_thread::write(true)
}
