//! Cancellation of blocking work whose request is gone.
//!
//! A blocking handler cannot be dropped the way a future can: when its client hangs up or its
//! deadline passes, the decode, display and preprocessing loops it runs must notice and stop.
//! The transport gives each request a [`Cancellation`] and installs it on the thread that runs
//! the handler ([`Cancellation::scope`]); long loops call [`checkpoint`] (per frame, per segment
//! list, per batch) and return [`Cancelled`] once the request is gone. Code that hands work to
//! another thread carries the token along with [`current`] and installs it there again.
//!
//! Outside a scope [`checkpoint`] never fails, so library code that checks costs nothing to
//! callers that never cancel.
//!
//! ```
//! use arterys_protocol::cancel::{self, Cancellation};
//! let token = Cancellation::new();
//! let work = || -> Result<u32, cancel::Cancelled> {
//!     let mut sum = 0;
//!     for i in 0..10 {
//!         cancel::checkpoint()?;
//!         sum += i;
//!     }
//!     Ok(sum)
//! };
//! assert_eq!(token.scope(work), Ok(45));
//! token.cancel();
//! assert_eq!(token.scope(work), Err(cancel::Cancelled));
//! // Outside a scope nothing is cancelled.
//! assert_eq!(work(), Ok(45));
//! ```

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A request's cancellation flag, shared by the transport (which sets it) and the work done
/// for the request (which checks it). Cloning shares the flag.
#[derive(Clone, Debug, Default)]
pub struct Cancellation {
    flag: Arc<AtomicBool>,
}

/// The work's request is gone (its client hung up or its deadline passed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request was cancelled (client gone or deadline passed)")]
pub struct Cancelled;

thread_local! {
    static CURRENT: RefCell<Option<Cancellation>> = const { RefCell::new(None) };
}

impl Cancellation {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag: every [`checkpoint`] under this token fails from now on.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Runs `f` with this token installed on the current thread, so that [`checkpoint`] and
    /// [`current`] see it; the previous token (if any) is back afterwards, even if `f` panics.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Cancellation>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        let _restore = Restore(previous);
        f()
    }
}

/// The token installed on this thread, to carry to another thread (`token.scope(...)` there).
pub fn current() -> Option<Cancellation> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `Err(Cancelled)` if this thread's request is gone; `Ok(())` outside a scope.
pub fn checkpoint() -> Result<(), Cancelled> {
    CURRENT.with(|c| c.borrow().as_ref().map_or(Ok(()), Cancellation::check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore() {
        let outer = Cancellation::new();
        let inner = Cancellation::new();
        inner.cancel();
        outer.scope(|| {
            assert_eq!(checkpoint(), Ok(()));
            inner.scope(|| assert_eq!(checkpoint(), Err(Cancelled)));
            assert_eq!(checkpoint(), Ok(()));
        });
        assert!(current().is_none());
    }

    #[test]
    fn a_token_carried_to_another_thread_sees_the_cancel() {
        let token = Cancellation::new();
        let carried = token.scope(current).unwrap();
        token.cancel();
        let seen = std::thread::spawn(move || carried.scope(checkpoint)).join().unwrap();
        assert_eq!(seen, Err(Cancelled));
    }
}
