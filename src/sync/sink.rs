//! The write-and-hash pipeline of one download: batches of network chunks go to a writer thread
//! that appends them to the partial file with one `writev` (no copying them together), which
//! passes them on to a hasher thread (sha256 and CRC-64/XZ). Hashing off the network task lets
//! the download keep up with the network (sha256 runs near loopback speed), and the bounded
//! channels keep memory at a few buffers per download whatever the file size.
//!
//! A resumed file is hashed from its existing prefix first, so it ends with the same checks as
//! a fresh one.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::hex::hex;
use crate::model::FormatVerdict;
use crate::verify::format::{Format, TarZstdCheck, XbstreamCheck};
use crate::verify::verdict;

/// Batches in flight per stage; with ~128 KiB batches that is about 1 MiB per download.
const DEPTH: usize = 4;
const READ_BUF: usize = 256 * 1024;

enum Msg {
    /// Consecutive pieces of the file, as the network delivered them.
    Data(Vec<Bytes>),
    /// The server sent the whole object again: start the file and the hashes from zero. The
    /// writer answers on the channel once the file is cut.
    Restart(Option<tokio::sync::oneshot::Sender<()>>),
}

/// The hashes and length of everything written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub len: u64,
    pub sha256: String,
    pub crc64: u64,
    /// What the cheap format check says of the bytes (see [`crate::verify::verdict`]).
    pub verdict: FormatVerdict,
}

pub struct Sink {
    tx: Option<tokio::sync::mpsc::Sender<Msg>>,
    writer: Option<JoinHandle<io::Result<Written>>>,
    path: PathBuf,
}

impl Sink {
    /// Appends to `file` (the partial at `path`, opened by the store, which refuses links)
    /// after its first `keep` bytes (anything beyond is cut off) and starts the threads; the
    /// kept prefix is hashed first.
    pub fn open(
        mut file: File,
        path: &Path,
        keep: u64,
        format: Option<Format>,
    ) -> io::Result<Sink> {
        file.set_len(keep)?;
        // The prefix is read with positional reads (`pread`) on a clone: a clone shares the
        // file offset with the writer, so plain reads would move it. No second open by path.
        let prefix = file.try_clone()?;
        file.seek(SeekFrom::Start(keep))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(DEPTH);
        let writer = std::thread::Builder::new()
            .name("dds-writer".into())
            .spawn(move || write_loop(file, prefix, keep, format, rx))?;
        Ok(Sink {
            tx: Some(tx),
            writer: Some(writer),
            path: path.to_path_buf(),
        })
    }

    /// Queues a batch of consecutive pieces; waits (without blocking the runtime) when the
    /// writer is behind.
    ///
    /// # Errors
    /// The writer stopped (disk full, I/O error): [`Sink::finish`] says why.
    pub async fn write(&mut self, batch: Vec<Bytes>) -> Result<(), ()> {
        match &self.tx {
            Some(tx) => tx.send(Msg::Data(batch)).await.map_err(|_| ()),
            None => Err(()),
        }
    }

    /// Starts the file and the hashes from zero; returns once the file is cut, so a sidecar
    /// written afterwards can never describe the old bytes (a kill -9 between the two would
    /// otherwise leave old bytes beside the new ETag, and a resume would splice them).
    ///
    /// # Errors
    /// The writer stopped: [`Sink::finish`] says why.
    pub async fn restart(&mut self) -> Result<(), ()> {
        let Some(tx) = &self.tx else {
            return Err(());
        };
        let (done, cut) = tokio::sync::oneshot::channel();
        tx.send(Msg::Restart(Some(done))).await.map_err(|_| ())?;
        cut.await.map_err(|_| ())
    }

    /// Waits for everything queued to be written and hashed.
    ///
    /// # Errors
    /// The first write error (e.g. `StorageFull`).
    pub async fn finish(mut self) -> io::Result<Written> {
        drop(self.tx.take());
        let writer = self.writer.take();
        tokio::task::spawn_blocking(move || match writer {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writer thread panicked"))),
            None => Err(io::Error::other("sink already finished")),
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Closing the channel lets the writer drain and exit on its own; nothing is lost that
        // was queued, and the partial file stays for a later resume.
        drop(self.tx.take());
    }
}

fn write_loop(
    mut file: File,
    prefix: File,
    keep: u64,
    format: Option<Format>,
    mut rx: tokio::sync::mpsc::Receiver<Msg>,
) -> io::Result<Written> {
    // The kept prefix is hashed before anything is written: a restart would truncate it.
    let state = hash_prefix(prefix, keep, format)?;
    let (htx, hrx) = mpsc::sync_channel::<Msg>(DEPTH);
    let hasher = std::thread::Builder::new()
        .name("dds-hasher".into())
        .spawn(move || hash_loop(state, hrx))?;
    let mut result = Ok(());
    let mut writeback = Writeback::new(keep);
    while let Some(msg) = rx.blocking_recv() {
        let step = match &msg {
            Msg::Data(batch) => {
                write_all_vectored(&mut file, batch).map(|n| writeback.wrote(&file, n))
            }
            Msg::Restart(_) => {
                writeback = Writeback::new(0);
                file.set_len(0)
                    .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            }
        };
        if let Err(e) = step {
            result = Err(e);
            break;
        }
        let msg = match msg {
            Msg::Restart(done) => {
                if let Some(done) = done {
                    let _ = done.send(());
                }
                Msg::Restart(None)
            }
            data => data,
        };
        if htx.send(msg).is_err() {
            break;
        }
    }
    drop(htx);
    let hashed = hasher
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("hasher thread panicked")));
    result?;
    hashed
}

/// Writes every piece of `batch`, in order, with as few `writev` calls as the kernel allows;
/// returns the bytes written.
fn write_all_vectored(file: &mut File, batch: &[Bytes]) -> io::Result<usize> {
    let total = batch.iter().map(Bytes::len).sum();
    let mut slices: Vec<io::IoSlice<'_>> = batch.iter().map(|b| io::IoSlice::new(b)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Starts the kernel's writeback of each finished window while the download goes on, so the
/// fsync before publishing waits for the last window only, not for gigabytes of dirty pages.
/// (`sync_file_range` only queues the writes; durability still comes from that fsync.)
struct Writeback {
    start: u64,
    end: u64,
}

const WRITEBACK_WINDOW: u64 = 8 << 20;

impl Writeback {
    fn new(at: u64) -> Self {
        Writeback { start: at, end: at }
    }

    fn wrote(&mut self, file: &File, n: usize) {
        use std::os::fd::AsRawFd;
        self.end += n as u64;
        if self.end - self.start >= WRITEBACK_WINDOW {
            // SAFETY: a valid open descriptor and a range inside the file; the call only
            // schedules I/O. Failure is harmless (the final fsync does the work), so it is ignored.
            unsafe {
                libc::sync_file_range(
                    file.as_raw_fd(),
                    self.start as libc::off64_t,
                    (self.end - self.start) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.start = self.end;
        }
    }
}

pub(super) struct HashState {
    sha: Sha256,
    crc: crc_fast::Digest,
    len: u64,
    check: FormatCheck,
}

/// The format checks run on every downloaded byte: xbstream's framing and payload CRCs
/// (CRC32 runs at memory speed), and gzip's magic. Inflating gzip to check its trailers costs
/// as much as the download, so that waits for `--verify`. A snapshot export (tar.zst) is
/// decoded here in full although that costs CPU too: the export has no cloud-side size or hash
/// to hold it against, so this check is all that stands between a broken export and
/// publishing it. The first bytes are kept to tell `unrecognised` from `damaged`.
struct FormatCheck {
    format: Option<Format>,
    head: Vec<u8>,
    /// The streaming check, with its first error (after which it is fed no more).
    stream: Option<(Streaming, Option<String>)>,
}

enum Streaming {
    Xbstream(Box<XbstreamCheck>),
    TarZstd(Box<TarZstdCheck>),
}

impl FormatCheck {
    fn new(format: Option<Format>) -> Self {
        let stream = match format {
            Some(Format::Xbstream) => Some(Streaming::Xbstream(Box::default())),
            Some(Format::TarZstd) => Some(Streaming::TarZstd(Box::default())),
            Some(Format::Gzip) | None => None,
        };
        FormatCheck {
            format,
            head: Vec::with_capacity(verdict::HEAD),
            stream: stream.map(|s| (s, None)),
        }
    }

    fn update(&mut self, data: &[u8]) {
        if self.format.is_none() {
            return;
        }
        let take = (verdict::HEAD - self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..take]);
        if let Some((check, err @ None)) = &mut self.stream {
            let outcome = match check {
                Streaming::Xbstream(c) => c.update(data),
                Streaming::TarZstd(c) => c.update(data),
            };
            if let Err(e) = outcome {
                *err = Some(e.to_string());
            }
        }
    }

    fn finish(&self) -> FormatVerdict {
        let outcome = match (self.format, &self.stream) {
            (_, Some((_, Some(e)))) => Err(e.clone()),
            (_, Some((Streaming::Xbstream(c), None))) => c.finish().map_err(|e| e.to_string()),
            (_, Some((Streaming::TarZstd(c), None))) => c.finish().map_err(|e| e.to_string()),
            (Some(Format::Gzip), _) if !verdict::starts_like(Format::Gzip, &self.head) => {
                Err("gzip at byte 0: no gzip magic (1f 8b)".to_string())
            }
            _ => Ok(()),
        };
        verdict::classify(self.format, &self.head, outcome)
    }
}

#[cfg(test)]
mod format_check_tests {
    use super::*;
    use crate::model::Verdict;

    fn verdict_of(format: Format, bytes: &[u8]) -> Verdict {
        let mut check = FormatCheck::new(Some(format));
        bytes.chunks(1000).for_each(|piece| check.update(piece));
        check.finish().verdict
    }

    #[test]
    fn a_snapshot_export_is_decoded_as_it_downloads() {
        let mut b = tar::Builder::new(Vec::new());
        let doc = [5u8, 0, 0, 0, 0].repeat(2000);
        let mut h = tar::Header::new_gnu();
        h.set_size(doc.len() as u64);
        b.append_data(&mut h, "db/c/data/c_0_part0.bson", &doc[..])
            .unwrap();
        let tar = b.into_inner().unwrap();
        let file = ruzstd::encoding::compress_to_vec(
            &tar[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(verdict_of(Format::TarZstd, &file), Verdict::Ok);
        assert_eq!(
            verdict_of(Format::TarZstd, &file[..file.len() - 1]),
            Verdict::Damaged
        );
        assert_eq!(verdict_of(Format::TarZstd, &tar), Verdict::Unrecognised);
    }
}

impl HashState {
    pub(super) fn new(format: Option<Format>) -> Self {
        HashState {
            sha: Sha256::new(),
            crc: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Xz),
            len: 0,
            check: FormatCheck::new(format),
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.crc.update(data);
        self.check.update(data);
        self.len += data.len() as u64;
    }

    pub(super) fn finish(self) -> Written {
        Written {
            len: self.len,
            verdict: self.check.finish(),
            sha256: hex(&self.sha.finalize()),
            crc64: self.crc.finalize(),
        }
    }
}

fn hash_prefix(prefix: File, keep: u64, format: Option<Format>) -> io::Result<HashState> {
    let mut state = HashState::new(format);
    extend(&mut state, &prefix, keep)?;
    Ok(state)
}

/// Hashes `file` from what `state` has hashed up to `upto`, with positional reads (a clone of
/// the writer's descriptor shares its offset).
pub(super) fn extend(state: &mut HashState, file: &File, upto: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; READ_BUF.min(upto.saturating_sub(state.len) as usize)];
    while state.len < upto {
        let want = (upto - state.len).min(READ_BUF as u64) as usize;
        let n = match file.read_at(&mut buf[..want], state.len) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "partial file shrank while reading it ({} of {upto} bytes)",
                    state.len
                ),
            ));
        }
        state.update(&buf[..n]);
    }
    Ok(())
}

fn hash_loop(mut state: HashState, rx: mpsc::Receiver<Msg>) -> io::Result<Written> {
    for msg in rx {
        match msg {
            Msg::Data(batch) => batch.iter().for_each(|piece| state.update(piece)),
            Msg::Restart(_) => state = HashState::new(state.check.format),
        }
    }
    Ok(state.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Verdict;

    /// sha256 and CRC-64/XZ of a whole file, read back.
    fn hash_file(path: &Path) -> io::Result<Written> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        hash_prefix(file, len, None).map(HashState::finish)
    }

    fn reference(data: &[u8]) -> Written {
        Written {
            len: data.len() as u64,
            sha256: hex(&Sha256::digest(data)),
            crc64: crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, data),
            verdict: FormatVerdict {
                verdict: Verdict::NotChecked,
                detail: None,
            },
        }
    }

    fn part(path: &Path) -> File {
        crate::store::open_partial(path).unwrap()
    }

    #[test]
    fn crc64_check_values() {
        let crc = |s: &[u8]| crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Xz, s);
        assert_eq!(crc(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(
            crc(b"This is a test of the emergency broadcast system."),
            0x27DB_187F_C15B_BC72
        );
    }

    #[tokio::test]
    async fn fresh_resumed_and_restarted_writes_hash_like_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.part");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();

        let mut sink = Sink::open(part(&path), &path, 0, None).unwrap();
        sink.write(vec![Bytes::copy_from_slice(&data[..1_000_000])])
            .await
            .unwrap();
        let first = sink.finish().await.unwrap();
        assert_eq!(first, reference(&data[..1_000_000]));

        // Resume: the prefix on disk is hashed, then the rest appended in batches of uneven
        // pieces (one of them empty), each batch one `writev`.
        let mut sink = Sink::open(part(&path), &path, 1_000_000, None).unwrap();
        for batch in data[1_000_000..].chunks(300_000) {
            let (a, rest) = batch.split_at(1);
            let (b, c) = rest.split_at(rest.len() / 3);
            let pieces = [a, &[], b, c].map(Bytes::copy_from_slice).to_vec();
            sink.write(pieces).await.unwrap();
        }
        assert_eq!(sink.finish().await.unwrap(), reference(&data));
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(hash_file(&path).unwrap(), reference(&data));

        // Restart: garbage, then the server sends the whole object again. Once `restart`
        // returns the file is already cut (a sidecar may now be written for the new object).
        let mut sink = Sink::open(part(&path), &path, 10, None).unwrap();
        sink.write(vec![Bytes::from_static(b"garbage")])
            .await
            .unwrap();
        sink.restart().await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        sink.write(vec![Bytes::copy_from_slice(&data[..5000])])
            .await
            .unwrap();
        assert_eq!(sink.finish().await.unwrap(), reference(&data[..5000]));
        assert_eq!(std::fs::read(&path).unwrap(), &data[..5000]);
    }

    #[tokio::test]
    async fn keep_cuts_off_anything_beyond() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.part");
        std::fs::write(&path, b"abcdefgh").unwrap();
        let sink = Sink::open(part(&path), &path, 3, None).unwrap();
        assert_eq!(sink.finish().await.unwrap(), reference(b"abc"));
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");
    }
}
