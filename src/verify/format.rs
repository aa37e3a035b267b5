//! Format checks that need no restore: enough to catch a truncated or garbled archive.
//!
//! - `.tar.gz`, `.tgz`, `.gz`, `.ar` (a gzip-compressed `mongodump --archive`): every gzip member
//!   inflates, its CRC32 and ISIZE trailers match, and nothing but whole members is in the file
//!   (see `gzip`).
//! - `_qp.xb`, `.xb` ([xbstream](https://docs.percona.com/percona-xtrabackup/8.0/xbstream-binary-overview.html)):
//!   every chunk has the `XBSTCK01` magic, a known type (or the ignorable flag), a path of 1 to
//!   511 bytes (`xbstream` refuses `FN_REFLEN` and longer), payload and sparse chunks a CRC32
//!   that matches and the offset `xbstream -x` expects next for that file, every file an EOF
//!   chunk, and the stream ends on a chunk boundary.
//! - `.tar.zst`, `.tzst` (a DBS snapshot export: a tar of split mongodump `.bson` files, see
//!   `export`): every zstd frame complete with its content checksum (skippable frames skipped,
//!   nothing else after the last frame; `zstd`), every tar header's checksum, entry data and
//!   the end-of-archive marker (`tar`), and every `.bson` entry exactly a run of whole BSON
//!   documents (`bson`).
//!
//! Report, don't guess: other names get no format check ([`check_format`] says
//! [`FormatOutcome::NotApplicable`]). Pure over a reader or over fed bytes; no paths, no clock,
//! memory bounded whatever the size. The xbstream and tar.zst checks are streaming
//! ([`XbstreamCheck`], [`TarZstdCheck`]) so a download can run them on the bytes it already
//! hashes.

mod bson;
mod export;
mod gzip;
mod tar;
mod zstd;

pub use export::TarZstdCheck;

use std::collections::HashMap;
use std::io::Read;

/// What the file name says the content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    Xbstream,
    /// zstd-compressed tar (`.tar.gz` stays [`Format::Gzip`]: a physical backup's tar of data
    /// files, not BSON, checked as gzip only).
    TarZstd,
}

impl Format {
    pub fn for_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if [".tar.gz", ".tgz", ".gz", ".ar"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            Some(Format::Gzip)
        } else if lower.ends_with(".xb") {
            Some(Format::Xbstream)
        } else if lower.ends_with(".tar.zst") || lower.ends_with(".tzst") {
            Some(Format::TarZstd)
        } else {
            None
        }
    }
}

/// What [`check_format`] did with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatOutcome {
    /// The name says which format, and the content is well-formed in it.
    Valid(Format),
    /// No format check for this name: size and hash checks only.
    NotApplicable,
}

/// What is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}{} at byte {offset}: {reason}", member.map(|m| format!(" member {m}")).unwrap_or_default())]
pub struct FormatError {
    pub format: &'static str,
    /// The gzip member (1-based) the problem is in, when it is in one.
    pub member: Option<u64>,
    pub offset: u64,
    pub reason: String,
}

/// Checks `reader` against the format its `file_name` implies; reads nothing for other names.
///
/// # Errors
/// The first structural problem found, naming the byte offset; read errors as its `reason`.
pub fn check_format(file_name: &str, reader: impl Read) -> Result<FormatOutcome, FormatError> {
    match Format::for_name(file_name) {
        Some(format) => check(format, reader).map(|()| FormatOutcome::Valid(format)),
        None => Ok(FormatOutcome::NotApplicable),
    }
}

/// Checks a whole stream of the given format.
///
/// # Errors
/// The first structural problem found, with its byte offset; read errors as `reason`.
pub fn check(format: Format, reader: impl Read) -> Result<(), FormatError> {
    match format {
        Format::Gzip => gzip::check(reader),
        Format::Xbstream => feed(reader, XbstreamCheck::default()),
        Format::TarZstd => feed(reader, TarZstdCheck::default()),
    }
}

/// A check that is fed the stream in pieces.
trait Streaming {
    fn update(&mut self, data: &[u8]) -> Result<(), FormatError>;
    fn finish(&self) -> Result<(), FormatError>;
    /// A failed read, reported where the check had got to.
    fn read_error(&self, e: std::io::Error) -> FormatError;
}

impl Streaming for XbstreamCheck {
    fn update(&mut self, data: &[u8]) -> Result<(), FormatError> {
        XbstreamCheck::update(self, data)
    }
    fn finish(&self) -> Result<(), FormatError> {
        XbstreamCheck::finish(self)
    }
    fn read_error(&self, e: std::io::Error) -> FormatError {
        self.error(format!("read failed: {e}"))
    }
}

impl Streaming for TarZstdCheck {
    fn update(&mut self, data: &[u8]) -> Result<(), FormatError> {
        TarZstdCheck::update(self, data)
    }
    fn finish(&self) -> Result<(), FormatError> {
        TarZstdCheck::finish(self)
    }
    fn read_error(&self, e: std::io::Error) -> FormatError {
        self.error(format!("read failed: {e}"))
    }
}

fn feed(mut reader: impl Read, mut check: impl Streaming) -> Result<(), FormatError> {
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| check.read_error(e))?;
        if n == 0 {
            return check.finish();
        }
        check.update(&buf[..n])?;
    }
}

const MAGIC: &[u8; 8] = b"XBSTCK01";
/// magic, flags, type, path length.
const FIXED: usize = 8 + 1 + 1 + 4;
/// payload length, payload offset, CRC32.
const PAYLOAD_HEADER: usize = 8 + 8 + 4;
/// A sparse chunk's map size, before its payload header.
const SPARSE_MAP_SIZE: usize = 4;
/// `xbstream` refuses path lengths of `FN_REFLEN` (512) and more.
const MAX_PATH: u32 = 511;
/// The chunk flag that lets a reader skip a chunk of a type it does not know.
const IGNORABLE: u8 = 0x01;

/// The body (sparse map and payload) of the current chunk, still expected.
struct Body {
    remaining: u64,
    /// Running CRC32 and the header's value; `None` for skipped (ignorable) chunks.
    crc: Option<(crc_fast::Digest, u32)>,
}

/// A streaming xbstream checker: feed bytes in any pieces, then [`XbstreamCheck::finish`].
#[derive(Default)]
pub struct XbstreamCheck {
    offset: u64,
    /// Bytes of the current chunk header collected so far.
    header: Vec<u8>,
    body: Option<Body>,
    chunks: u64,
    chunk_start: u64,
    /// Files that had chunks but no EOF chunk yet, with the offset `xbstream -x` expects their
    /// next chunk at (`None` after a sparse chunk, whose holes are not added up here). A stream
    /// cut between chunks still shows as truncated unless it was cut exactly between two files.
    open: HashMap<Vec<u8>, Option<u64>>,
}

impl XbstreamCheck {
    fn error(&self, reason: String) -> FormatError {
        FormatError {
            format: "xbstream",
            member: None,
            offset: self.chunk_start,
            reason: format!("chunk {}: {reason}", self.chunks + 1),
        }
    }

    /// Feeds the next bytes of the stream.
    ///
    /// # Errors
    /// The first malformed chunk.
    pub fn update(&mut self, mut data: &[u8]) -> Result<(), FormatError> {
        while !data.is_empty() {
            if let Some(body) = &mut self.body {
                let take = body.remaining.min(data.len() as u64) as usize;
                if let Some((crc, _)) = &mut body.crc {
                    crc.update(&data[..take]);
                }
                body.remaining -= take as u64;
                self.offset += take as u64;
                data = &data[take..];
                if body.remaining == 0 {
                    self.end_body()?;
                }
                continue;
            }
            let need = self.header_len()?;
            let take = (need - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            self.offset += take as u64;
            data = &data[take..];
            // Re-checked on every piece, so a bad magic shows even in a short tail.
            if self.header.len() == self.header_len()? {
                self.end_header()?;
            }
        }
        Ok(())
    }

    /// How long the current chunk header is, as far as can be told from what was read.
    fn header_len(&self) -> Result<usize, FormatError> {
        let h = &self.header;
        if h.len() < FIXED {
            if !MAGIC.starts_with(&h[..h.len().min(8)]) {
                return Err(self.error("bad magic (expected XBSTCK01)".into()));
            }
            return Ok(FIXED);
        }
        if &h[..8] != MAGIC {
            return Err(self.error("bad magic (expected XBSTCK01)".into()));
        }
        let path_len = u32::from_le_bytes([h[10], h[11], h[12], h[13]]);
        if path_len == 0 || path_len > MAX_PATH {
            return Err(self.error(format!(
                "path length {path_len} is not between 1 and {MAX_PATH}"
            )));
        }
        let base = FIXED + path_len as usize;
        match h[9] {
            b'E' => Ok(base),
            b'P' => Ok(base + PAYLOAD_HEADER),
            b'S' => Ok(base + SPARSE_MAP_SIZE + PAYLOAD_HEADER),
            _ if h[8] & IGNORABLE != 0 => Ok(base + PAYLOAD_HEADER),
            t => Err(self.error(format!("unknown chunk type {:?}", t as char))),
        }
    }

    fn end_header(&mut self) -> Result<(), FormatError> {
        let h = std::mem::take(&mut self.header);
        let p = FIXED + u32::from_le_bytes([h[10], h[11], h[12], h[13]]) as usize;
        let path = &h[FIXED..p];
        let le64 =
            |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("invariant: 8 bytes"));
        let le32 =
            |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("invariant: 4 bytes"));
        let (map_entries, at) = match h[9] {
            b'E' => {
                self.open.remove(path);
                self.chunks += 1;
                self.chunk_start = self.offset;
                return Ok(());
            }
            b'S' => (u64::from(le32(p)), p + SPARSE_MAP_SIZE),
            _ => (0, p),
        };
        let (len, chunk_offset, crc) = (le64(at), le64(at + 8), le32(at + 16));
        let body_len = map_entries
            .checked_mul(8)
            .and_then(|m| m.checked_add(len))
            .ok_or_else(|| self.error(format!("payload length {len} is absurd")))?;
        let crc = if matches!(h[9], b'P' | b'S') {
            let expected = self.open.get(path).copied().unwrap_or(Some(0));
            if let Some(e) = expected.filter(|e| *e != chunk_offset) {
                return Err(self.error(format!(
                    "payload for {:?} at file offset {chunk_offset}, expected {e} \
                     (xbstream -x refuses out-of-order chunks)",
                    String::from_utf8_lossy(path)
                )));
            }
            let next = if h[9] == b'P' {
                let next = chunk_offset.checked_add(len).ok_or_else(|| {
                    self.error(format!(
                        "payload offset {chunk_offset} + length {len} overflows"
                    ))
                })?;
                Some(next)
            } else {
                None
            };
            self.open.insert(path.to_vec(), next);
            Some((
                crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
                crc,
            ))
        } else {
            // An unknown type marked ignorable: `xbstream -x` skips it, so only its length counts.
            None
        };
        self.body = Some(Body {
            remaining: body_len,
            crc,
        });
        if body_len == 0 {
            self.end_body()?;
        }
        Ok(())
    }

    /// The body is complete: its CRC32 must match the header's (`xbstream` checks even an
    /// empty payload, whose CRC32 is 0).
    fn end_body(&mut self) -> Result<(), FormatError> {
        if let Some(Body {
            crc: Some((crc, expected)),
            ..
        }) = self.body.take()
        {
            let got = crc.finalize() as u32;
            if got != expected {
                return Err(self.error(format!(
                    "payload CRC32 {got:08x} does not match the header's {expected:08x}"
                )));
            }
        }
        self.chunks += 1;
        self.chunk_start = self.offset;
        Ok(())
    }

    /// Ends the stream: it must stop on a chunk boundary, after at least one chunk.
    ///
    /// # Errors
    /// A truncated chunk, or an empty stream.
    pub fn finish(&self) -> Result<(), FormatError> {
        if let Some(body) = &self.body {
            return Err(self.error(format!(
                "truncated payload ({} bytes missing)",
                body.remaining
            )));
        }
        if !self.header.is_empty() {
            self.header_len()?;
            return Err(self.error("truncated chunk header".into()));
        }
        if self.chunks == 0 {
            return Err(self.error("no chunks at all".into()));
        }
        if let Some(path) = self.open.keys().min() {
            return Err(FormatError {
                format: "xbstream",
                member: None,
                offset: self.offset,
                reason: format!(
                    "truncated: {:?} has no EOF chunk ({} files unfinished)",
                    String::from_utf8_lossy(path),
                    self.open.len()
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tar_zstd;
