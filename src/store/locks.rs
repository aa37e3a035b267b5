//! The locks beside the run lock. A scrub holds the scrub lock (two scrubs exclude each other),
//! not the run lock, so a pass can run meanwhile; each copy a scrub reads, and each copy a pass
//! publishes, prunes or a repair removes, is held under that copy's own lock: an OFD record lock
//! on one byte (picked by the copy's key) of one file in the root. OFD locks belong to the open
//! file, so they also exclude two holders in one process, and the kernel drops them with the
//! process (a kill -9 leaves nothing to clean up).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{RunLock, Store, StoreError, io_err, safe};
use crate::model::BackupKey;

/// The scrub lock, in the root beside the run lock.
pub(super) const SCRUB_LOCK_FILE: &str = ".dds-backup-sync.scrub.lock";
/// The file whose bytes are the copies' locks.
pub(super) const COPY_LOCK_FILE: &str = ".dds-backup-sync.copies.lock";

/// One copy held: released when dropped.
pub struct CopyLock {
    _file: File,
}

impl Store {
    /// The scrub lock (a second scrub on this download dir is refused, naming the holder).
    ///
    /// # Errors
    /// [`StoreError::Locked`] while another scrub holds it; the root cannot be used.
    pub fn scrub_lock(&self, config: Option<&Path>) -> Result<RunLock, StoreError> {
        self.lock_named(SCRUB_LOCK_FILE, config)
    }

    /// Waits until this process holds `key`'s copy: a scrub reading it, or a pass or repair
    /// changing it, elsewhere finishes first.
    ///
    /// # Errors
    /// The lock file cannot be opened or locked.
    pub fn copy_lock(&self, key: &BackupKey) -> Result<CopyLock, StoreError> {
        let path = self.root.join(COPY_LOCK_FILE);
        let file = safe::open_lock(&path)?;
        let lock = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: slot(key) as libc::off_t,
            l_len: 1,
            l_pid: 0,
        };
        loop {
            // SAFETY: a valid open descriptor and a fully initialised `flock` for the call.
            let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLKW, &lock) };
            if rc == 0 {
                return Ok(CopyLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err("lock", &path)(e));
            }
        }
    }
}

/// The byte of the lock file that stands for `key` (FNV-1a of its label; two keys sharing a
/// byte only ever wait for each other, never corrupt anything).
fn slot(key: &BackupKey) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{key:?}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % (1 << 40)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};

    use super::*;

    fn key(id: &str) -> BackupKey {
        BackupKey::node("dds-1", None, id)
    }

    #[test]
    fn a_copy_lock_waits_for_its_holder_and_other_copies_do_not() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        std::fs::create_dir_all(root.path()).unwrap();
        let held = store.copy_lock(&key("1")).unwrap();
        // Another copy is free at once, even in this process (OFD locks).
        drop(store.copy_lock(&key("2")).unwrap());
        let got = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(Barrier::new(2));
        let waiter = {
            let (store, got, ready) = (store.clone(), got.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.wait();
                let _l = store.copy_lock(&key("1")).unwrap();
                got.store(true, Ordering::SeqCst);
            })
        };
        ready.wait();
        // The waiter cannot get it while it is held...
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(200);
        while std::time::Instant::now() < deadline {
            assert!(
                !got.load(Ordering::SeqCst),
                "a held copy lock was taken twice"
            );
            std::thread::yield_now();
        }
        // ...and gets it once it is released.
        drop(held);
        waiter.join().unwrap();
        assert!(got.load(Ordering::SeqCst));
    }

    #[test]
    fn two_scrubs_exclude_each_other_but_not_a_pass() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let scrub = store.scrub_lock(None).unwrap();
        assert!(matches!(
            store.scrub_lock(None),
            Err(StoreError::Locked { path, .. }) if path.ends_with(SCRUB_LOCK_FILE)
        ));
        let pass = store.lock().unwrap();
        drop((scrub, pass));
        assert!(store.scrub_lock(None).is_ok());
    }
}
