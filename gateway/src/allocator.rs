//! jemalloc set to hand freed memory back to the OS within a fraction of a second (feature
//! `jemalloc`), for servers that make jemalloc their global allocator.

/// How long freed pages stay mapped for reuse before jemalloc's background thread hands them
/// back. Not 0: a request's buffers, freed and purged at once, came back as fresh pages on the
/// next request, and faulting them in cost more than the request itself (one 525 kB slice,
/// 8 clients: 500 page faults and 3.2 ms of server CPU per request with 0; 2 faults and 1.1 ms
/// with 1 s; 27 faults with 200 ms). Not jemalloc's default of 10 s: the memory budget's free
/// room should be free in the OS's eyes soon after a burst, or the next burst's RSS goes past
/// the budget (16 uploads of 157 MB under a 1 GiB budget peaked at 1,057 MiB with 0, 1,081 MiB
/// with 200 ms, 1,100 MiB with 1 s).
pub const DECAY_MS: isize = 200;

/// Freed pages go back to the OS [`DECAY_MS`] after they are freed (jemalloc's background
/// thread does it, also while the process is idle), and at once from the muzzy state.
///
/// Call it first thing in `main` of a binary whose `#[global_allocator]` is
/// `tikv_jemallocator::Jemalloc`.
pub fn return_memory_promptly() -> Result<(), tikv_jemalloc_ctl::Error> {
    use tikv_jemalloc_ctl::{Access, AsName};
    b"arenas.dirty_decay_ms\0".name().write(DECAY_MS)?;
    b"arenas.muzzy_decay_ms\0".name().write(0isize)?;
    // The arenas made already keep the values they were made with; the others do not exist
    // yet (the call fails for them) and will take the new defaults.
    for i in 0..tikv_jemalloc_ctl::arenas::narenas::read()? {
        let _ = format!("arena.{i}.dirty_decay_ms\0").as_bytes().name().write(DECAY_MS);
        let _ = format!("arena.{i}.muzzy_decay_ms\0").as_bytes().name().write(0isize);
    }
    tikv_jemalloc_ctl::background_thread::write(true)
}
