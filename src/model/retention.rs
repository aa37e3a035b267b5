//! The retention rules of one store, as the configuration gives them and the planner
//! ([`crate::sync::prune`]) applies them. Pure.

use std::time::Duration;

/// The retention rules of one store (`[prune]`, `[archive.prune]`). A tier of 0 (or `None`
/// for `keep_within`) is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    pub grace: Duration,
    pub keep_last: usize,
    pub keep_daily: usize,
    pub keep_weekly: usize,
    pub keep_monthly: usize,
    pub keep_yearly: usize,
    pub keep_within: Option<Duration>,
}

impl Rules {
    /// Whether any tier is set: then the newest sound copy of a group is always kept, so a run
    /// of damaged copies never leaves a group with nothing to restore.
    pub fn tiers(&self) -> bool {
        self.keep_daily + self.keep_weekly + self.keep_monthly + self.keep_yearly > 0
            || self.keep_within.is_some()
    }
}
