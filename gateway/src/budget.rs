//! [`MemoryBudget`]: one memory budget for the whole process.
//!
//! Request bodies, `studyPath` studies, parsed JSON parts, the images a handler decodes, what
//! other platforms' routes inflate and decode ([`Admission`](crate::Admission)) and the response buffers
//! of every in-flight request are counted against the same number of bytes. The gateway reserves a request's
//! body before reading it (its `Content-Length` up front, or step by step for a chunked
//! body), holds that until the handler returns, then counts the response buffers until the
//! last byte is handed to the connection (or the client goes away). A request that does not
//! fit waits for room up to [`MemoryBudget::wait`]; then it gets 503 with `Retry-After`,
//! never an out-of-memory abort.
//!
//! There is one budget per process, [`MemoryBudget::process`]: every [`Gateway`](crate::Gateway)
//! uses it unless given another, so two gateways in one process share it. A service sizes it
//! once at start ([`MemoryBudget::init_process`], as `--memory-budget-mib` does); otherwise it
//! is half of the machine's (or container's) memory.
//!
//! Handlers account what they allocate themselves (decoded pixels, masks) through a clone of
//! the same budget:
//!
//! ```
//! use arterys_gateway::budget::MemoryBudget;
//! use arterys_gateway::{Gateway, HandlerError, InferenceResponse};
//!
//! let budget = MemoryBudget::process();
//! let b = budget.clone();
//! let gw = Gateway::new().memory_budget(budget).route("/", move |input| {
//!     let pixels = input.dicom.len() * 512 * 512 * 4;
//!     // Held while the decoded images live; released when dropped.
//!     let _decoded = b.try_reserve(pixels as u64).ok_or_else(|| HandlerError::unavailable("memory budget full"))?;
//!     Ok(InferenceResponse::new())
//! });
//! ```

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Share of the machine's (or the container's) memory a default budget takes.
const DEFAULT_SHARE: f64 = 0.5;
/// Budget when the machine's memory cannot be read.
const FALLBACK: u64 = 2 << 30;
/// How long a request waits for room by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The budget stayed full for the whole wait.
    #[error("memory budget full: {wanted} bytes did not fit in {free} free of {total} within {waited_ms} ms")]
    Full {
        /// Bytes asked for.
        wanted: u64,
        /// Bytes free when the wait ended.
        free: u64,
        /// The budget.
        total: u64,
        /// How long it waited.
        waited_ms: u64,
    },
    /// More than the whole budget: it can never fit.
    #[error("{wanted} bytes exceed the whole {total}-byte memory budget")]
    TooLarge {
        /// Bytes asked for.
        wanted: u64,
        /// The budget.
        total: u64,
    },
}

struct Shared {
    total: u64,
    wait: Duration,
    used: Mutex<u64>,
    freed: Notify,
}

/// A process-wide memory budget, shared by cloning (all clones count against the same bytes).
#[derive(Clone)]
pub struct MemoryBudget {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget").field("total", &self.total()).field("used", &self.used()).finish()
    }
}

impl Default for MemoryBudget {
    /// The process's budget, [`MemoryBudget::process`] (a clone: the same bytes).
    fn default() -> Self {
        Self::process()
    }
}

static PROCESS: OnceLock<MemoryBudget> = OnceLock::new();

impl MemoryBudget {
    /// The process's one budget: what [`init_process`](Self::init_process) set, else half of
    /// the memory available to the process (cgroup limit or `MemTotal`), made on first use.
    /// Every call returns a clone of the same budget.
    pub fn process() -> Self {
        PROCESS
            .get_or_init(|| Self::new(available_memory().map_or(FALLBACK, |m| (m as f64 * DEFAULT_SHARE) as u64)))
            .clone()
    }

    /// Sets the process's budget to `budget` and returns it; if the process budget was already
    /// made (by an earlier call or by [`process`](Self::process)), that one is kept and
    /// returned, so everything in the process counts against one number.
    pub fn init_process(budget: MemoryBudget) -> Self {
        PROCESS.get_or_init(|| budget).clone()
    }

    /// Whether `other` counts against the same bytes (a clone of the same budget).
    pub fn same_as(&self, other: &MemoryBudget) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// A budget of `bytes`, with the default wait (10 s).
    pub fn new(bytes: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                total: bytes.max(1 << 20),
                wait: DEFAULT_WAIT,
                used: Mutex::new(0),
                freed: Notify::new(),
            }),
        }
    }

    /// A budget of `mib` MiB.
    pub fn from_mib(mib: u64) -> Self {
        Self::new(mib.saturating_mul(1 << 20))
    }

    /// How long [`reserve`](Self::reserve) waits for room before it gives up (default 10 s).
    /// Call it before cloning: clones made earlier keep the old wait.
    pub fn with_wait(self, wait: Duration) -> Self {
        let total = self.total();
        let mut b = Self::new(total);
        if let Some(s) = Arc::get_mut(&mut b.shared) {
            s.wait = wait;
        }
        b
    }

    /// The budget in bytes.
    pub fn total(&self) -> u64 {
        self.shared.total
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        *self.lock()
    }

    /// How long a reservation waits for room.
    pub fn wait(&self) -> Duration {
        self.shared.wait
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // The guarded value is a counter: a panic elsewhere cannot leave it half-written.
        self.shared.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, bytes: u64) -> bool {
        let mut used = self.lock();
        if used.saturating_add(bytes) <= self.shared.total {
            *used += bytes;
            true
        } else {
            false
        }
    }

    /// `bytes` now if they fit, without waiting.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        self.take(bytes).then(|| Reservation { budget: self.clone(), bytes })
    }

    /// Counts `bytes` that already exist (e.g. a response the handler built), even past the
    /// budget: later requests wait until they are released.
    pub fn charge(&self, bytes: u64) -> Reservation {
        *self.lock() += bytes;
        Reservation { budget: self.clone(), bytes }
    }

    /// `bytes`, waiting for room up to the budget's wait.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, BudgetError> {
        let mut r = Reservation { budget: self.clone(), bytes: 0 };
        r.grow(bytes, Instant::now() + self.shared.wait).await?;
        Ok(r)
    }

    fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut used = self.lock();
        *used = used.saturating_sub(bytes);
        drop(used);
        self.shared.freed.notify_waiters();
    }
}

/// Bytes held against a [`MemoryBudget`]; dropping it gives them back.
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    bytes: u64,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Holds `more` bytes as well, waiting for room until `deadline`.
    pub async fn grow(&mut self, more: u64, deadline: Instant) -> Result<(), BudgetError> {
        let b = &self.budget;
        let total = b.total();
        if self.bytes.saturating_add(more) > total {
            return Err(BudgetError::TooLarge { wanted: self.bytes.saturating_add(more), total });
        }
        let started = Instant::now();
        loop {
            // Registered before the check, so a release between the check and the wait wakes us.
            let freed = b.shared.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if b.take(more) {
                self.bytes += more;
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                let free = total.saturating_sub(b.used());
                let waited_ms = started.elapsed().as_millis() as u64;
                return Err(BudgetError::Full { wanted: more, free, total, waited_ms });
            }
        }
    }

    /// Holds `more` bytes as well if they fit now, without waiting (for blocking code, such
    /// as a handler inflating an upload): `Full` when they do not fit now, `TooLarge` when
    /// they never can.
    pub fn try_grow(&mut self, more: u64) -> Result<(), BudgetError> {
        let b = &self.budget;
        let total = b.total();
        if self.bytes.saturating_add(more) > total {
            return Err(BudgetError::TooLarge { wanted: self.bytes.saturating_add(more), total });
        }
        if b.take(more) {
            self.bytes += more;
            return Ok(());
        }
        Err(BudgetError::Full { wanted: more, free: total.saturating_sub(b.used()), total, waited_ms: 0 })
    }

    /// The budget these bytes count against.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Gives back all but `keep` bytes.
    pub fn shrink_to(&mut self, keep: u64) {
        if keep < self.bytes {
            self.budget.release(self.bytes - keep);
            self.bytes = keep;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Memory available to this process: the cgroup v2/v1 limit when there is one, else
/// `MemTotal` (Linux); `None` elsewhere.
pub fn available_memory() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mem_total = read("/proc/meminfo").and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
    });
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|s| s.trim().parse::<u64>().ok());
    match (cgroup, mem_total) {
        (Some(c), Some(m)) => Some(c.min(m)),
        (c, m) => c.or(m),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_room_and_give_it_back() {
        let b = MemoryBudget::from_mib(10).with_wait(Duration::from_millis(300));
        let first = b.reserve(8 << 20).await.unwrap();
        assert_eq!(b.used(), 8 << 20);
        assert!(b.try_reserve(4 << 20).is_none());
        // Refused after the wait while the first is held.
        let err = b.reserve(4 << 20).await.unwrap_err();
        assert!(matches!(err, BudgetError::Full { .. }), "{err}");
        // Admitted as soon as room is made.
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.reserve(4 << 20).await.map(|r| r.bytes()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        assert_eq!(waiter.await.unwrap().unwrap(), 4 << 20);
        assert_eq!(b.used(), 0);
        assert!(matches!(b.reserve(11 << 20).await, Err(BudgetError::TooLarge { .. })));
        let charged = b.charge(20 << 20);
        assert_eq!(b.used(), 20 << 20);
        drop(charged);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn the_default_is_the_one_process_budget_a_share_of_the_machine() {
        let d = MemoryBudget::default();
        if let Some(m) = available_memory() {
            assert!(d.total() <= m && d.total() >= m / 4, "{} of {m}", d.total());
        }
        assert!(d.same_as(&MemoryBudget::process()) && d.same_as(&MemoryBudget::default()));
        // Once made, the process budget stays: a later init gets the same one back.
        assert!(MemoryBudget::init_process(MemoryBudget::from_mib(64)).same_as(&d));
        assert!(!MemoryBudget::from_mib(64).same_as(&d));
    }

    #[test]
    fn try_grow_refuses_at_once() {
        let b = MemoryBudget::from_mib(4);
        let mut r = b.try_reserve(1 << 20).unwrap();
        r.try_grow(2 << 20).unwrap();
        let _other = b.try_reserve(1 << 20).unwrap();
        assert!(matches!(r.try_grow(1 << 20), Err(BudgetError::Full { .. })));
        assert!(matches!(r.try_grow(8 << 20), Err(BudgetError::TooLarge { .. })));
        assert_eq!(r.bytes(), 3 << 20);
    }
}
