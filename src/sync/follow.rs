//! Hashing a file whose parts land out of order (several ranged streams): a thread follows the
//! contiguous complete prefix as it grows and hashes it in order (sha256, CRC-64, the streaming
//! format check), reading those bytes back, most often from the page cache, so no part is ever
//! held in memory waiting for the ones before it.

use std::fs::File;
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::sink::{HashState, Written, extend};
use crate::verify::format::Format;

pub struct Follower {
    tx: Option<mpsc::Sender<u64>>,
    thread: Option<JoinHandle<io::Result<Written>>>,
}

impl Follower {
    /// Starts hashing `file` (a clone of the partial's descriptor) from byte 0.
    pub fn start(file: File, format: Option<Format>) -> io::Result<Follower> {
        let (tx, rx) = mpsc::channel::<u64>();
        let thread = std::thread::Builder::new()
            .name("dds-follower".into())
            .spawn(move || follow(&file, format, &rx))?;
        Ok(Follower {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Every byte below `prefix` is in the file now.
    pub fn advance(&self, prefix: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(prefix);
        }
    }

    /// Waits until everything up to the last prefix is hashed.
    ///
    /// # Errors
    /// A read error (or the file shrank under the reader).
    pub async fn finish(mut self) -> io::Result<Written> {
        drop(self.tx.take());
        let thread = self.thread.take();
        tokio::task::spawn_blocking(move || match thread {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("follower thread panicked"))),
            None => Err(io::Error::other("follower already finished")),
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

fn follow(file: &File, format: Option<Format>, rx: &mpsc::Receiver<u64>) -> io::Result<Written> {
    let mut state = HashState::new(format);
    while let Ok(mut upto) = rx.recv() {
        // Only the newest prefix matters.
        while let Ok(more) = rx.try_recv() {
            upto = upto.max(more);
        }
        extend(&mut state, file, upto)?;
    }
    Ok(state.finish())
}
