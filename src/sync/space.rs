//! Disk space promised to the downloads in flight, so concurrent downloads never count the same
//! free bytes twice.
//!
//! Each download claims the bytes it still has to write before it opens its file, checked
//! against the filesystem's free space minus what the other downloads still have to write. The
//! claim shrinks as bytes land on disk (from then on the filesystem's own count shows them) and
//! whatever is left goes back when the download ends, however it ends. Without this, four
//! downloads that each fit alone could start together and fill the disk of the host they share
//! with other services.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// One per pass; every download of the pass claims from it.
#[derive(Debug, Default)]
pub struct SpaceBook {
    promised: Mutex<u64>,
}

/// Not enough room: what was needed, what the filesystem had free, and how much of that was
/// already promised to other downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub needed: u64,
    pub free: u64,
    pub promised: u64,
}

/// The bytes one download may still write; given back on drop.
#[derive(Debug)]
pub struct Claim {
    book: Arc<SpaceBook>,
    left: u64,
}

impl SpaceBook {
    fn promised(&self) -> MutexGuard<'_, u64> {
        // A poisoned lock only means a download panicked mid-update; the count is still whole.
        self.promised.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `needed` bytes if `free` (the filesystem's free bytes, measured while the book is
    /// held, so two downloads never both see the same space) minus the bytes promised to other
    /// downloads covers them. Free space that cannot be measured is not a reason to refuse.
    ///
    /// # Errors
    /// The space is not there.
    pub fn claim(
        self: &Arc<Self>,
        needed: u64,
        free: impl FnOnce() -> io::Result<u64>,
    ) -> Result<Claim, Shortfall> {
        let mut promised = self.promised();
        if let Ok(free) = free()
            && free.saturating_sub(*promised) < needed
        {
            return Err(Shortfall {
                needed,
                free,
                promised: *promised,
            });
        }
        *promised += needed;
        Ok(Claim {
            book: self.clone(),
            left: needed,
        })
    }

    /// Bytes still promised to downloads in flight.
    pub fn outstanding(&self) -> u64 {
        *self.promised()
    }
}

impl Claim {
    /// What this download may still write.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// `n` bytes reached the file: the filesystem counts them now.
    pub fn wrote(&mut self, n: u64) {
        let n = n.min(self.left);
        if n > 0 {
            self.left -= n;
            *self.book.promised() -= n;
        }
    }

    /// The file was cut to zero to start over: it will write `total` bytes from here.
    pub fn restart(&mut self, total: u64) {
        let more = total.saturating_sub(self.left);
        self.left += more;
        *self.book.promised() += more;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut promised = self.book.promised();
        *promised = promised.saturating_sub(self.left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(n: u64) -> impl FnOnce() -> io::Result<u64> {
        move || Ok(n)
    }

    #[test]
    fn claims_share_the_free_space_and_give_back_what_they_did_not_write() {
        let book = Arc::new(SpaceBook::default());
        let mut a = book.claim(600, free(1000)).unwrap();
        // 1000 free, 600 promised to `a`: 500 more does not fit, 400 does.
        assert_eq!(
            book.claim(500, free(1000)).unwrap_err(),
            Shortfall {
                needed: 500,
                free: 1000,
                promised: 600
            }
        );
        let b = book.claim(400, free(1000)).unwrap();
        assert_eq!(book.outstanding(), 1000);
        // `a` writes 250 bytes: the filesystem now has 750 free and 750 promised.
        a.wrote(250);
        assert_eq!(book.outstanding(), 750);
        assert_eq!(a.left(), 350);
        assert!(book.claim(1, free(750)).is_err());
        drop(b);
        assert_eq!(book.outstanding(), 350);
        assert!(book.claim(400, free(750)).is_ok(), "given back on drop");
        assert_eq!(
            book.outstanding(),
            350,
            "the temporary claim was dropped too"
        );
        // Writing more than claimed never drives the count below zero.
        a.wrote(10_000);
        assert_eq!(book.outstanding(), 0);
        drop(a);
        assert_eq!(book.outstanding(), 0);
    }

    #[test]
    fn a_restart_claims_the_whole_file_again() {
        let book = Arc::new(SpaceBook::default());
        let mut a = book.claim(300, free(1000)).unwrap(); // resuming: 300 of 1000 left
        a.wrote(100);
        a.restart(1000);
        assert_eq!(book.outstanding(), 1000);
        drop(a);
        assert_eq!(book.outstanding(), 0);
    }

    #[test]
    fn unmeasurable_free_space_does_not_refuse() {
        let book = Arc::new(SpaceBook::default());
        let c = book.claim(u64::MAX / 2, || Err(io::Error::other("statvfs failed")));
        assert!(c.is_ok());
    }
}
