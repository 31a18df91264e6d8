//! One rule for exit codes. Every error type of the workspace implements [`UserFixable`]: it says
//! whether the user can fix the failure by changing their input (a missing or corrupt file, an
//! unknown model or key, a bad argument, a missing system feature they can install or enable), which
//! the CLI reports as exit code 2, or whether it is an internal failure (exit code 1).
//!
//! The CLI walks an error's whole source chain ([`chain_is_user_fixable`]): the failure is the
//! user's to fix when any error in the chain says so, so wrapping an error in context never turns
//! a bad input into an internal error.

use std::error::Error;

/// Whether an error is the user's to fix (exit code 2) rather than an internal failure (1).
pub trait UserFixable {
    /// True when the user can fix this by changing their input or environment.
    fn user_can_fix(&self) -> bool;
}

/// A probe that recognises one concrete error type in a chain and asks it [`UserFixable`].
pub type Probe = fn(&(dyn Error + 'static)) -> Option<bool>;

/// The probe for error type `E`: `Some(answer)` when the error is an `E`, else `None`.
pub fn probe<E: UserFixable + Error + 'static>(e: &(dyn Error + 'static)) -> Option<bool> {
    e.downcast_ref::<E>().map(UserFixable::user_can_fix)
}

/// True when any error in the chain starting at `top` is recognised by one of `probes` and says
/// the user can fix it.
pub fn chain_is_user_fixable(top: &(dyn Error + 'static), probes: &[Probe]) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = Some(top);
    while let Some(e) = cur {
        if probes.iter().any(|p| p(e) == Some(true)) {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Leaf(bool);
    impl std::fmt::Display for Leaf {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "leaf {}", self.0)
        }
    }
    impl Error for Leaf {}
    impl UserFixable for Leaf {
        fn user_can_fix(&self) -> bool {
            self.0
        }
    }

    #[derive(Debug)]
    struct Wrap(Leaf);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_fixable_error_deep_in_the_chain_is_found() {
        let probes: &[Probe] = &[probe::<Leaf>];
        assert!(chain_is_user_fixable(&Wrap(Leaf(true)), probes));
        assert!(!chain_is_user_fixable(&Wrap(Leaf(false)), probes));
        // An error type no probe knows is not the user's to fix.
        assert!(!chain_is_user_fixable(&Wrap(Leaf(true)), &[]));
    }
}
