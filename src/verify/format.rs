//! Format checks that need no restore: enough to catch a truncated or garbled archive.
//!
//! - `.tar.gz`, `.tgz`, `.gz`, `.ar` (a gzip-compressed `mongodump --archive`): every gzip member
//!   inflates, its CRC32 and ISIZE trailers match, and nothing but whole members is in the file.
//! - `_qp.xb`, `.xb` (xbstream): every chunk has the `XBSTCK01` magic, a known type, a sane path,
//!   and for payload chunks a payload whose CRC32 matches; the stream ends on a chunk boundary.
//!
//! Report, don't guess: other names get no format check ([`Format::for_name`] says `None`).
//! Pure over a reader or over fed bytes; no paths, no clock. The xbstream check is streaming
//! ([`XbstreamCheck`]) so a download can run it on the bytes it already hashes.

use std::io::{self, Read};

/// What the file name says the content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    Xbstream,
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
        } else {
            None
        }
    }
}

/// What is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format} at byte {offset}: {reason}")]
pub struct FormatError {
    pub format: &'static str,
    pub offset: u64,
    pub reason: String,
}

/// Checks a whole stream of the given format.
///
/// # Errors
/// The first structural problem found, with its byte offset; read errors as `reason`.
pub fn check(format: Format, reader: impl Read) -> Result<(), FormatError> {
    match format {
        Format::Gzip => check_gzip(reader),
        Format::Xbstream => {
            let mut reader = reader;
            let mut check = XbstreamCheck::default();
            let mut buf = vec![0u8; 128 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(|e| check.error(format!("read failed: {e}")))?;
                if n == 0 {
                    return check.finish();
                }
                check.update(&buf[..n])?;
            }
        }
    }
}

struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn check_gzip(reader: impl Read) -> Result<(), FormatError> {
    let mut counting = Counting {
        inner: reader,
        count: 0,
    };
    let err = |offset, reason: String| FormatError {
        format: "gzip",
        offset,
        reason,
    };
    // An empty file is not a gzip stream (MultiGzDecoder would accept it as zero members).
    let mut first = [0u8; 2];
    counting
        .read_exact(&mut first)
        .map_err(|_| err(0, "file too short for a gzip header".into()))?;
    if first != [0x1f, 0x8b] {
        return Err(err(0, "no gzip magic (1f 8b)".into()));
    }
    let chained = io::Cursor::new(first).chain(&mut counting);
    let mut decoder =
        flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(128 * 1024, chained));
    let mut sink = [0u8; 64 * 1024];
    let mut inflated = 0u64;
    loop {
        match decoder.read(&mut sink) {
            Ok(0) => return Ok(()),
            Ok(n) => inflated += n as u64,
            Err(e) => {
                let offset = decoder.get_ref().get_ref().get_ref().1.count;
                let reason = match e.kind() {
                    io::ErrorKind::UnexpectedEof => {
                        "truncated (the stream ends inside a member)".to_string()
                    }
                    _ => format!("{e} after {inflated} inflated bytes"),
                };
                return Err(err(offset, reason));
            }
        }
    }
}

const MAGIC: &[u8; 8] = b"XBSTCK01";
/// magic, flags, type, path length.
const FIXED: usize = 8 + 1 + 1 + 4;
/// payload length, payload offset, CRC32.
const PAYLOAD_HEADER: usize = 8 + 8 + 4;
const MAX_PATH: u32 = 4096;

/// A streaming xbstream checker: feed bytes in any pieces, then [`XbstreamCheck::finish`].
#[derive(Default)]
pub struct XbstreamCheck {
    offset: u64,
    /// Bytes of the current chunk header collected so far.
    header: Vec<u8>,
    /// Payload bytes still expected, with their running CRC32 and the expected value.
    payload: Option<(u64, crc_fast::Digest, u32)>,
    chunks: u64,
    chunk_start: u64,
    /// Paths that had payload chunks but no EOF chunk yet: a stream cut between chunks still
    /// shows as truncated unless it was cut exactly between two files.
    open: std::collections::HashSet<Vec<u8>>,
}

impl XbstreamCheck {
    fn error(&self, reason: String) -> FormatError {
        FormatError {
            format: "xbstream",
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
            if let Some((remaining, crc, expected)) = &mut self.payload {
                let take = (*remaining).min(data.len() as u64) as usize;
                crc.update(&data[..take]);
                *remaining -= take as u64;
                self.offset += take as u64;
                data = &data[take..];
                if *remaining == 0 {
                    let got = crc.finalize() as u32;
                    let expected = *expected;
                    if got != expected {
                        return Err(self.error(format!(
                            "payload CRC32 {got:08x} does not match the header's {expected:08x}"
                        )));
                    }
                    self.payload = None;
                    self.chunks += 1;
                    self.chunk_start = self.offset;
                }
                continue;
            }
            let need = self.header_len()?;
            let take = (need - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            self.offset += take as u64;
            data = &data[take..];
            if self.header.len() == need && self.header_len()? == need {
                self.end_header();
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
            t => Err(self.error(format!("unknown chunk type {:?}", t as char))),
        }
    }

    fn end_header(&mut self) {
        let h = std::mem::take(&mut self.header);
        let p = FIXED + u32::from_le_bytes([h[10], h[11], h[12], h[13]]) as usize;
        if h[9] == b'E' {
            self.open.remove(&h[FIXED..p]);
            self.chunks += 1;
            self.chunk_start = self.offset;
            return;
        }
        if !self.open.contains(&h[FIXED..p]) {
            self.open.insert(h[FIXED..p].to_vec());
        }
        let len = u64::from_le_bytes(h[p..p + 8].try_into().expect("invariant: 8 bytes"));
        let crc = u32::from_le_bytes(h[p + 16..p + 20].try_into().expect("invariant: 4 bytes"));
        if len == 0 {
            self.chunks += 1;
            self.chunk_start = self.offset;
            return;
        }
        self.payload = Some((
            len,
            crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            crc,
        ));
    }

    /// Ends the stream: it must stop on a chunk boundary, after at least one chunk.
    ///
    /// # Errors
    /// A truncated chunk, or an empty stream.
    pub fn finish(&self) -> Result<(), FormatError> {
        if let Some((remaining, _, _)) = &self.payload {
            return Err(self.error(format!("truncated payload ({remaining} bytes missing)")));
        }
        if !self.header.is_empty() {
            return Err(self.error("truncated chunk header".into()));
        }
        if self.chunks == 0 {
            return Err(self.error("no chunks at all".into()));
        }
        if let Some(path) = self.open.iter().next() {
            return Err(FormatError {
                format: "xbstream",
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
