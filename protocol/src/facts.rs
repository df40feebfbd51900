//! What a server learned about a part before its handler runs, carried with the part so that
//! the handler does not learn it again (for DICOM: the checked walk and the headers, read once
//! by the gateway while it sizes the request's memory).

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A slot for one value about a part, set at most once and shared by the part's clones. The
/// value's type belongs to whoever sets it (this crate knows nothing of DICOM); a reader asks
/// for the type it expects and gets `None` when the slot is empty or holds another type.
///
/// ```
/// use arterys_protocol::PartFacts;
/// let facts = PartFacts::default();
/// let seen = facts.clone();
/// assert!(facts.set(42u32));
/// assert!(!facts.set(7u32)); // set once
/// assert_eq!(seen.get::<u32>(), Some(&42));
/// assert_eq!(seen.get::<String>(), None);
/// ```
#[derive(Clone, Default)]
pub struct PartFacts(Arc<OnceLock<Box<dyn Any + Send + Sync>>>);

impl PartFacts {
    /// Stores `value` unless the slot already holds one; whether it was stored.
    pub fn set<T: Any + Send + Sync>(&self, value: T) -> bool {
        self.0.set(Box::new(value)).is_ok()
    }

    /// The value, if the slot holds one of type `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.get()?.downcast_ref()
    }
}

impl fmt::Debug for PartFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() { "PartFacts(set)" } else { "PartFacts(empty)" })
    }
}
