//! gzip ([RFC 1952](https://www.rfc-editor.org/rfc/rfc1952)) member by member: each header is
//! parsed here, the deflate data inflated by flate2 (miniz_oxide) into a fixed buffer that is
//! only hashed, and each trailer's CRC32 and ISIZE compared with what the data inflated to.
//!
//! Owns the member loop only, so every error can name the member, the byte offset and which
//! check failed. Memory stays bounded whatever the file size; nothing is written anywhere.

use std::io::{self, BufRead, BufReader, Read};

use flate2::{Decompress, FlushDecompress, Status};

use super::FormatError;

const MAGIC: [u8; 2] = [0x1f, 0x8b];
const DEFLATE: u8 = 8;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const RESERVED: u8 = 0xe0;

/// What stopped a member.
enum Fault {
    /// The member does not start with the gzip magic (or the file ends before it).
    NotGzip,
    At(u64, String),
}

fn at(offset: u64, reason: impl Into<String>) -> Fault {
    Fault::At(offset, reason.into())
}

/// Counts the bytes read from the file, so offsets in errors are exact.
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

struct Input<R> {
    inner: BufReader<Counting<R>>,
}

impl<R: Read> Input<R> {
    /// Bytes consumed so far: the offset of the next byte to parse.
    fn pos(&self) -> u64 {
        self.inner.get_ref().count - self.inner.buffer().len() as u64
    }

    fn fill(&mut self) -> Result<&[u8], Fault> {
        let pos = self.pos();
        self.inner
            .fill_buf()
            .map_err(|e| at(pos, format!("read failed: {e}")))
    }

    /// Reads up to `buf.len()` bytes; fewer only at the end of the file.
    fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, Fault> {
        let mut got = 0;
        while got < buf.len() {
            let data = self.fill()?;
            if data.is_empty() {
                break;
            }
            let n = data.len().min(buf.len() - got);
            buf[got..got + n].copy_from_slice(&data[..n]);
            self.inner.consume(n);
            got += n;
        }
        Ok(got)
    }

    /// Reads exactly `buf.len()` bytes, or says which part of the member is `truncated`.
    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), Fault> {
        let start = self.pos();
        if self.read_up_to(buf)? < buf.len() {
            return Err(at(
                start,
                format!("truncated: the file ends inside the {what}"),
            ));
        }
        Ok(())
    }

    /// Skips `n` header bytes, hashing them for FHCRC.
    fn skip(&mut self, mut n: u64, hcrc: &mut crc_fast::Digest) -> Result<(), Fault> {
        let start = self.pos();
        while n > 0 {
            let data = self.fill()?;
            if data.is_empty() {
                return Err(at(
                    start,
                    "truncated: the file ends inside the header's extra field",
                ));
            }
            let take = data.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            hcrc.update(&data[..take]);
            self.inner.consume(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Skips a zero-terminated header string (file name or comment), hashing it for FHCRC.
    fn skip_cstr(&mut self, what: &str, hcrc: &mut crc_fast::Digest) -> Result<(), Fault> {
        let start = self.pos();
        loop {
            let data = self.fill()?;
            if data.is_empty() {
                return Err(at(
                    start,
                    format!("truncated: the file ends inside the header's {what}"),
                ));
            }
            let (take, done) = match data.iter().position(|b| *b == 0) {
                Some(i) => (i + 1, true),
                None => (data.len(), false),
            };
            hcrc.update(&data[..take]);
            self.inner.consume(take);
            if done {
                return Ok(());
            }
        }
    }

    /// Reads to the end, returning the offset of the end.
    fn drain(&mut self) -> u64 {
        loop {
            match self.inner.fill_buf() {
                Ok([]) | Err(_) => return self.pos(),
                Ok(data) => {
                    let n = data.len();
                    self.inner.consume(n);
                }
            }
        }
    }
}

/// Checks a whole gzip file: one or more complete members and nothing after them.
pub(super) fn check(reader: impl Read) -> Result<(), FormatError> {
    let mut input = Input {
        inner: BufReader::with_capacity(
            128 * 1024,
            Counting {
                inner: reader,
                count: 0,
            },
        ),
    };
    let mut member = 0u64;
    loop {
        let start = input.pos();
        let at_end = input
            .fill()
            .map(<[u8]>::is_empty)
            .map_err(|f| fault_error(Some(member + 1), start, f))?;
        if at_end {
            return if member == 0 {
                Err(error(None, 0, "empty file: no gzip member"))
            } else {
                Ok(())
            };
        }
        member += 1;
        match read_member(&mut input) {
            Ok(()) => {}
            Err(Fault::NotGzip) if member > 1 => {
                let end = input.drain();
                return Err(error(
                    None,
                    start,
                    format!(
                        "{} bytes of trailing garbage after member {}",
                        end - start,
                        member - 1
                    ),
                ));
            }
            Err(f) => return Err(fault_error(Some(member), start, f)),
        }
    }
}

fn error(member: Option<u64>, offset: u64, reason: impl Into<String>) -> FormatError {
    FormatError {
        format: "gzip",
        member,
        offset,
        reason: reason.into(),
    }
}

fn fault_error(member: Option<u64>, start: u64, fault: Fault) -> FormatError {
    match fault {
        Fault::NotGzip => error(member, start, "no gzip magic (1f 8b)"),
        Fault::At(offset, reason) => error(member, offset, reason),
    }
}

/// One member: header, deflate data, trailer.
fn read_member<R: Read>(input: &mut Input<R>) -> Result<(), Fault> {
    let start = input.pos();
    let mut fixed = [0u8; 10];
    let got = input.read_up_to(&mut fixed)?;
    if got < 2 || fixed[..2] != MAGIC {
        return Err(Fault::NotGzip);
    }
    if got < fixed.len() {
        return Err(at(start, "truncated: the file ends inside the header"));
    }
    if fixed[2] != DEFLATE {
        return Err(at(
            start + 2,
            format!("compression method {} is not deflate (8)", fixed[2]),
        ));
    }
    let flags = fixed[3];
    if flags & RESERVED != 0 {
        return Err(at(
            start + 3,
            format!("reserved header flag bits set ({flags:#04x})"),
        ));
    }
    let mut hcrc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc);
    hcrc.update(&fixed);
    if flags & FEXTRA != 0 {
        let mut xlen = [0u8; 2];
        input.exact(&mut xlen, "header's extra field")?;
        hcrc.update(&xlen);
        input.skip(u64::from(u16::from_le_bytes(xlen)), &mut hcrc)?;
    }
    if flags & FNAME != 0 {
        input.skip_cstr("file name", &mut hcrc)?;
    }
    if flags & FCOMMENT != 0 {
        input.skip_cstr("comment", &mut hcrc)?;
    }
    if flags & FHCRC != 0 {
        let offset = input.pos();
        let mut crc16 = [0u8; 2];
        input.exact(&mut crc16, "header CRC16")?;
        let (want, got) = (u16::from_le_bytes(crc16), hcrc.finalize() as u16);
        if want != got {
            return Err(at(
                offset,
                format!(
                    "header CRC16 mismatch: the header says {want:04x}, it hashes to {got:04x}"
                ),
            ));
        }
    }
    let (crc, size) = inflate(input)?;
    let offset = input.pos();
    let mut trailer = [0u8; 8];
    input.exact(&mut trailer, "CRC32/ISIZE trailer")?;
    let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let want_size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if want_crc != crc {
        return Err(at(
            offset,
            format!(
                "CRC32 mismatch: the trailer says {want_crc:08x}, the data inflates to {crc:08x}"
            ),
        ));
    }
    if want_size != size {
        return Err(at(
            offset + 4,
            format!(
                "ISIZE mismatch: the trailer says {want_size} bytes, the data inflates to {size} (mod 2^32)"
            ),
        ));
    }
    Ok(())
}

/// Inflates one deflate stream, consuming exactly its bytes; returns the CRC32 and the length
/// (mod 2^32) of what it inflates to.
fn inflate<R: Read>(input: &mut Input<R>) -> Result<(u32, u32), Fault> {
    let start = input.pos();
    let mut inflater = Decompress::new(false);
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc);
    let mut out = vec![0u8; 64 * 1024];
    loop {
        let data = input.fill()?;
        let eof = data.is_empty();
        let flush = if eof {
            FlushDecompress::Finish
        } else {
            FlushDecompress::None
        };
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let status = inflater.decompress(data, &mut out, flush);
        let consumed = (inflater.total_in() - in_before) as usize;
        let produced = (inflater.total_out() - out_before) as usize;
        input.inner.consume(consumed);
        crc.update(&out[..produced]);
        let status = status.map_err(|e| {
            at(
                start + inflater.total_in(),
                format!("deflate data is corrupt ({e})"),
            )
        })?;
        match status {
            Status::StreamEnd => return Ok((crc.finalize() as u32, inflater.total_out() as u32)),
            _ if consumed > 0 || produced > 0 => {}
            _ if eof => {
                return Err(at(
                    input.pos(),
                    "truncated: the file ends inside the deflate data",
                ));
            }
            _ => return Err(at(input.pos(), "the deflate data stopped making progress")),
        }
    }
}
