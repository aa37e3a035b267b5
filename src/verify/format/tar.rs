//! tar (POSIX ustar and pax, GNU, old V7) block by block, pushed the bytes of the archive in
//! pieces of any size; the data of every `.bson` entry goes on to [`BsonCheck`].
//!
//! Owns: every header block's checksum (the unsigned sum with the checksum field counted as
//! spaces, or the signed sum some old tars wrote), the size (octal, or GNU base-256, or a pax
//! `size` record), each entry's data and padding being complete, the real name of each entry
//! (ustar prefix, pax `path`, GNU `L` long name: errors name the entry, shown as data), pax
//! records being well-formed, and the end-of-archive marker (two zero blocks) followed by
//! nothing but zeros. Other header fields (mode, owner, times, magic) are not checked: tar
//! extracts whatever they say, and the checksum already covers them.
//!
//! Offsets in errors are bytes of the archive (the decompressed stream). Memory: one header
//! block, plus an extended header's data (at most [`MAX_EXTENSION`]).

use super::FormatError;
use super::bson::BsonCheck;
use crate::text::shown;

const FORMAT: &str = "tar";
const BLOCK: u64 = 512;
/// Extended header data (pax records, GNU long names) is kept to be parsed; honest ones are a
/// few KiB at most (a path, some xattrs), so more than this is damage, not a header.
const MAX_EXTENSION: u64 = 1024 * 1024;
/// Header fields: name, size, checksum, type flag, ustar magic and prefix.
const NAME: std::ops::Range<usize> = 0..100;
const SIZE: std::ops::Range<usize> = 124..136;
const CHKSUM: std::ops::Range<usize> = 148..156;
const TYPEFLAG: usize = 156;
const MAGIC: std::ops::Range<usize> = 257..263;
const PREFIX: std::ops::Range<usize> = 345..500;
/// Old GNU sparse headers: "more sparse map blocks follow" in the header and in each of them.
const GNU_IS_EXTENDED: usize = 482;
const GNU_EXT_IS_EXTENDED: usize = 504;

/// Where the archive is.
enum State {
    /// Collecting a header block.
    Header,
    /// Collecting an old GNU sparse map block, which sits between a header and its data.
    SparseMap { size: u64 },
    /// An entry's data, then its padding to the next block (not checked: tar ignores it).
    Data { remaining: u64, padding: u64 },
    /// One zero block seen: the next block must be zero too.
    OneZero,
    /// After the end-of-archive marker: only zero bytes may follow.
    End,
}

/// What an entry's data is for.
enum Body {
    Skip,
    Bson(BsonCheck),
    /// An extended header's data, kept to be parsed when complete.
    Extension(u8, Vec<u8>),
}

/// A streaming tar checker: feed the archive in any pieces, then [`TarCheck::finish`].
pub(super) struct TarCheck {
    offset: u64,
    block: Box<[u8; BLOCK as usize]>,
    fill: usize,
    state: State,
    body: Body,
    /// Set by a pax `x` header or a GNU `L` entry for the entry after it.
    next_name: Option<Vec<u8>>,
    next_size: Option<u64>,
    /// The current entry's name (as data, for messages), header offset and data offset.
    name: String,
    header_at: u64,
    data_at: u64,
}

impl Default for TarCheck {
    fn default() -> Self {
        TarCheck {
            offset: 0,
            block: Box::new([0; BLOCK as usize]),
            fill: 0,
            state: State::Header,
            body: Body::Skip,
            next_name: None,
            next_size: None,
            name: String::new(),
            header_at: 0,
            data_at: 0,
        }
    }
}

fn error(offset: u64, reason: String) -> FormatError {
    FormatError {
        format: FORMAT,
        member: None,
        offset,
        reason,
    }
}

/// A NUL-terminated field's bytes.
fn cstr(field: &[u8]) -> &[u8] {
    field
        .iter()
        .position(|b| *b == 0)
        .map_or(field, |n| &field[..n])
}

/// A numeric header field: octal digits (after optional leading spaces) ended by spaces or
/// NULs, or GNU base-256 (the high bit of the first byte set) for values octal cannot hold.
fn number(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        // 0xff starts a negative base-256 number, which no size or checksum can be.
        if field[0] == 0xff {
            return None;
        }
        return std::iter::once(field[0] & 0x7f)
            .chain(field[1..].iter().copied())
            .try_fold(0u64, |acc, b| {
                acc.checked_mul(256).map(|v| v | u64::from(b))
            });
    }
    let start = field.iter().position(|b| *b != b' ')?;
    let digits = field[start..]
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(*b))
        .count();
    let (num, rest) = field[start..].split_at(digits);
    if !rest.iter().all(|b| matches!(b, b' ' | 0)) {
        return None;
    }
    num.iter().try_fold(0u64, |acc, b| {
        acc.checked_mul(8).map(|v| v + u64::from(b - b'0'))
    })
}

/// Whether the header's checksum field matches its bytes, summed unsigned (POSIX) or signed
/// (what some old tars computed; GNU tar accepts both).
fn checksum_ok(h: &[u8; BLOCK as usize]) -> Result<(), String> {
    let want = number(&h[CHKSUM]).ok_or_else(|| {
        format!(
            "the checksum field {} is not a number",
            shown(&String::from_utf8_lossy(&h[CHKSUM]))
        )
    })?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in h.iter().enumerate() {
        let b = if CHKSUM.contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if want == unsigned || i64::try_from(want) == Ok(signed) {
        Ok(())
    } else {
        Err(format!(
            "header checksum mismatch: the header says {want}, its bytes sum to {unsigned}"
        ))
    }
}

/// The name in the header itself; the ustar prefix is joined only under the POSIX magic (GNU
/// headers keep other fields there).
fn header_name(h: &[u8; BLOCK as usize]) -> Vec<u8> {
    let name = cstr(&h[NAME]);
    let prefix = cstr(&h[PREFIX]);
    if &h[MAGIC] == b"ustar\0" && !prefix.is_empty() {
        [prefix, b"/", name].concat()
    } else {
        name.to_vec()
    }
}

/// Calls `record` with each `key=value` of pax extended header data (`"%d %s=%s\n"`, the
/// length counting the whole record).
fn pax_records(mut data: &[u8], mut record: impl FnMut(&[u8], &[u8])) -> Result<(), String> {
    let mut at = 0;
    while !data.is_empty() {
        let bad = || format!("malformed pax record {at} bytes into the extended header");
        let space = data.iter().position(|b| *b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(bad());
        }
        let kv = &data[space + 1..len - 1];
        let eq = kv.iter().position(|b| *b == b'=').ok_or_else(bad)?;
        record(&kv[..eq], &kv[eq + 1..]);
        data = &data[len..];
        at += len;
    }
    Ok(())
}

impl TarCheck {
    fn entry_error(&self, offset: u64, reason: impl std::fmt::Display) -> FormatError {
        error(offset, format!("entry \"{}\": {reason}", shown(&self.name)))
    }

    /// Feeds the next bytes of the archive.
    ///
    /// # Errors
    /// The first malformed header, entry or `.bson` document.
    pub(super) fn update(&mut self, mut data: &[u8]) -> Result<(), FormatError> {
        while !data.is_empty() {
            match &mut self.state {
                State::End => {
                    if let Some(i) = data.iter().position(|b| *b != 0) {
                        return Err(error(
                            self.offset + i as u64,
                            "non-zero byte after the end-of-archive marker".into(),
                        ));
                    }
                    self.offset += data.len() as u64;
                    return Ok(());
                }
                State::Data { remaining, padding } => {
                    let (in_data, left) = if *remaining > 0 {
                        (true, remaining)
                    } else {
                        (false, padding)
                    };
                    let take = (*left).min(data.len() as u64);
                    *left -= take;
                    let done = *left == 0;
                    let (piece, rest) = data.split_at(take as usize);
                    if in_data {
                        self.data(piece)?;
                        if done {
                            self.end_data()?;
                        }
                    }
                    self.offset += take;
                    data = rest;
                    if matches!(
                        self.state,
                        State::Data {
                            remaining: 0,
                            padding: 0
                        }
                    ) {
                        self.state = State::Header;
                    }
                }
                State::Header | State::SparseMap { .. } | State::OneZero => {
                    let take = (BLOCK as usize - self.fill).min(data.len());
                    self.block[self.fill..self.fill + take].copy_from_slice(&data[..take]);
                    self.fill += take;
                    self.offset += take as u64;
                    data = &data[take..];
                    if self.fill == BLOCK as usize {
                        self.fill = 0;
                        self.end_block()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A piece of the current entry's data.
    fn data(&mut self, piece: &[u8]) -> Result<(), FormatError> {
        match &mut self.body {
            Body::Skip => Ok(()),
            Body::Bson(check) => check
                .update(piece)
                .map_err(|(at, reason)| self.entry_error(self.data_at + at, reason)),
            Body::Extension(_, kept) => {
                kept.extend_from_slice(piece);
                Ok(())
            }
        }
    }

    /// A whole block in header position (a header, a sparse map, or a zero block).
    fn end_block(&mut self) -> Result<(), FormatError> {
        let at = self.offset - BLOCK;
        let zero = self.block.iter().all(|b| *b == 0);
        match self.state {
            State::SparseMap { size } if self.block[GNU_EXT_IS_EXTENDED] == 0 => {
                self.enter_data(size)
            }
            State::SparseMap { .. } => Ok(()),
            State::OneZero if zero => {
                self.state = State::End;
                Ok(())
            }
            State::OneZero => Err(error(
                at - BLOCK,
                "a lone zero block before more headers (tar stops reading at it)".into(),
            )),
            _ if zero && (self.next_name.is_some() || self.next_size.is_some()) => Err(error(
                at,
                "the archive ends after an extended header, with no entry for it".into(),
            )),
            _ if zero => {
                self.state = State::OneZero;
                Ok(())
            }
            _ => self.header(at),
        }
    }

    /// A header block at `at`: its checksum, name, size, and what its data is for.
    fn header(&mut self, at: u64) -> Result<(), FormatError> {
        self.header_at = at;
        let h = &*self.block;
        let own_name = header_name(h);
        self.name = String::from_utf8_lossy(&own_name).into_owned();
        checksum_ok(h).map_err(|reason| self.entry_error(at, reason))?;
        let kind = h[TYPEFLAG];
        let extension = matches!(kind, b'x' | b'g' | b'L' | b'K');
        let header_size = number(&h[SIZE]).ok_or_else(|| {
            self.entry_error(
                at,
                format!(
                    "the size field {} is not a number",
                    shown(&String::from_utf8_lossy(&h[SIZE]))
                ),
            )
        })?;
        let mut size = header_size;
        if !extension {
            // The overrides are the previous extended headers' and apply to this entry only.
            if let Some(name) = self.next_name.take() {
                self.name = String::from_utf8_lossy(&name).into_owned();
            }
            size = self.next_size.take().unwrap_or(header_size);
        }
        // Links, devices, directories and FIFOs have no data whatever their size field says
        // (POSIX; Go's archive/tar `isHeaderOnlyType` and GNU tar agree).
        if matches!(kind, b'1'..=b'6') {
            size = 0;
        }
        if extension && size > MAX_EXTENSION {
            return Err(self.entry_error(
                at,
                format!("an extended header of {size} bytes (over {MAX_EXTENSION}) is no header"),
            ));
        }
        let bson = matches!(kind, b'0' | 0 | b'7') && self.name.ends_with(".bson");
        self.body = match kind {
            _ if extension => Body::Extension(kind, Vec::with_capacity(size as usize)),
            _ if bson => Body::Bson(BsonCheck::new(size)),
            _ => Body::Skip,
        };
        if kind == b'S' && h[GNU_IS_EXTENDED] != 0 {
            self.state = State::SparseMap { size };
            Ok(())
        } else {
            self.enter_data(size)
        }
    }

    /// The current entry's `size` bytes of data start here.
    fn enter_data(&mut self, size: u64) -> Result<(), FormatError> {
        self.data_at = self.offset;
        self.state = State::Data {
            remaining: size,
            padding: (BLOCK - size % BLOCK) % BLOCK,
        };
        if size == 0 {
            self.state = State::Header;
            self.end_data()?;
        }
        Ok(())
    }

    /// The entry's data is complete: finish its `.bson` check or parse its extended header.
    fn end_data(&mut self) -> Result<(), FormatError> {
        match std::mem::replace(&mut self.body, Body::Skip) {
            Body::Skip => Ok(()),
            Body::Bson(check) => check
                .finish()
                .map_err(|(at, reason)| self.entry_error(self.data_at + at, reason)),
            Body::Extension(kind, data) => self.extension(kind, &data),
        }
    }

    fn extension(&mut self, kind: u8, data: &[u8]) -> Result<(), FormatError> {
        match kind {
            b'L' => self.next_name = Some(cstr(data).to_vec()),
            // A long link target: not a name this check uses.
            b'K' => {}
            _ => {
                let (mut path, mut size, mut bad_size) = (None, None, false);
                pax_records(data, |key, value| match key {
                    b"path" => path = Some(value.to_vec()),
                    // An empty value cancels the field (POSIX): the header's own counts.
                    b"size" if value.is_empty() => {}
                    b"size" => {
                        size = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                        bad_size |= size.is_none();
                    }
                    _ => {}
                })
                .map_err(|reason| self.entry_error(self.data_at, reason))?;
                if bad_size {
                    return Err(self.entry_error(self.data_at, "pax size record is not a number"));
                }
                // Global (`g`) records would apply to every later entry; a global path or size
                // makes no sense there and no writer emits one, so they are only checked.
                if kind == b'x' {
                    if let Some(path) = path {
                        self.next_name = (!path.is_empty()).then_some(path);
                    }
                    self.next_size = size.or(self.next_size);
                }
            }
        }
        Ok(())
    }

    /// Ends the archive: it must have reached the end-of-archive marker.
    ///
    /// # Errors
    /// A truncated header or entry, or a missing end marker.
    pub(super) fn finish(&self) -> Result<(), FormatError> {
        match &self.state {
            State::End => Ok(()),
            State::Data { remaining, .. } if *remaining > 0 => Err(self.entry_error(
                self.header_at,
                format!("truncated: the archive ends {remaining} bytes before the entry's end"),
            )),
            State::Data { padding, .. } => Err(self.entry_error(
                self.header_at,
                format!("truncated: the archive ends inside the padding ({padding} bytes short)"),
            )),
            _ if self.fill > 0 => Err(error(
                self.offset - self.fill as u64,
                "truncated: the archive ends inside a header block".into(),
            )),
            State::OneZero => Err(error(
                self.offset,
                "no end-of-archive marker: the archive ends after one zero block, not two".into(),
            )),
            State::SparseMap { .. } => Err(self.entry_error(
                self.header_at,
                "truncated: the archive ends inside the sparse map",
            )),
            State::Header if self.offset == 0 => {
                Err(error(0, "empty archive: no end-of-archive marker".into()))
            }
            State::Header => Err(error(
                self.offset,
                "truncated: no end-of-archive marker (two zero blocks)".into(),
            )),
        }
    }
}
