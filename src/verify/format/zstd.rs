//! zstd ([RFC 8878](https://www.rfc-editor.org/rfc/rfc8878)) frame by frame, pushed: the frame
//! and block framing is parsed here, so every error can name the frame and the byte of the file
//! it is at; ruzstd's low-level [`FrameDecoder`] decodes each block once it is whole, and the
//! decoded bytes go to a sink as soon as the window lets them out.
//!
//! Owns: the magic of every frame (zstd or skippable, nothing else, nothing after the last),
//! frame headers (reserved bit, dictionary, window size), block headers (type, size), the
//! frame content size when the header gives one and the XXH64 content checksum when the frame
//! has one. ruzstd computes the checksum of what it hands out but does not compare it with the
//! frame's: that comparison is done here.
//!
//! Memory: one block (at most 128 KiB) when it arrives in pieces, plus the decoder's window,
//! which the frame header sets and [`MAX_WINDOW`] caps, plus what one block decodes to. The
//! format allows 128 KiB, but ruzstd does not enforce it, so a block crafted to decode to more
//! is only limited by its match lengths (in theory gigabytes); damage does not do that, and
//! the exports come from the cloud over TLS.

use std::io::Read;
use std::ops::RangeInclusive;

use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::FormatError;

const FORMAT: &str = "tar.zst";
const MAGIC: u32 = 0xFD2F_B528;
const SKIPPABLE: RangeInclusive<u32> = 0x184D_2A50..=0x184D_2A5F;
/// RFC 8878 3.1.1.2.4: no block holds more than 128 KiB, compressed or not.
const MAX_BLOCK: usize = 128 * 1024;
/// ruzstd refuses larger windows (its `MAXIMUM_ALLOWED_WINDOW_SIZE`, checked on a reused
/// decoder only, so it is checked here for every frame). The reference decoder refuses more
/// than 128 MiB unless told otherwise (`--memory`), and exports use far less; this is what one
/// check may allocate for a hostile header.
const MAX_WINDOW: u64 = 100 * 1024 * 1024;
/// Frame header descriptor bits.
const FHD_RESERVED: u8 = 0x08;
const FHD_SINGLE_SEGMENT: u8 = 0x20;
const FHD_CHECKSUM: u8 = 0x04;

/// Where the stream is.
enum State {
    /// Between frames: the next four bytes are a frame's magic number.
    Magic,
    /// Inside a zstd frame, before a block.
    Blocks(Frame),
    /// Inside a skippable frame: this many content bytes are still to be skipped.
    Skip(u64),
}

struct Frame {
    checksum: bool,
    content_size: Option<u64>,
    /// Bytes decoded from this frame so far.
    produced: u64,
}

/// A streaming zstd checker that passes what it decodes to a sink.
pub(super) struct Frames {
    decoder: FrameDecoder,
    state: State,
    /// The current element (frame header, skippable header or block) when it arrives in pieces.
    pending: Vec<u8>,
    /// File offset of the current element.
    start: u64,
    offset: u64,
    /// Frames (zstd and skippable) started so far.
    frames: u64,
    out: Vec<u8>,
    /// The sink's error, held until the frame's checksum is checked: what a damaged frame
    /// decodes to is reported as the damaged frame, not as whatever the sink made of it.
    deferred: Option<FormatError>,
}

impl Default for Frames {
    fn default() -> Self {
        Frames {
            decoder: FrameDecoder::new(),
            state: State::Magic,
            pending: Vec::new(),
            start: 0,
            offset: 0,
            frames: 0,
            out: vec![0; 64 * 1024],
            deferred: None,
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

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// `(last, type, size)` of a 3-byte block header.
fn block_header(h: &[u8]) -> (bool, u8, usize) {
    let v = le(&h[..3]) as usize;
    (v & 1 == 1, ((v >> 1) & 3) as u8, v >> 3)
}

/// Sizes of the optional frame header fields: window descriptor, dictionary id, content size.
fn header_fields(fhd: u8) -> (usize, usize, usize) {
    let single = fhd & FHD_SINGLE_SEGMENT != 0;
    let window = usize::from(!single);
    let dict = [0, 1, 2, 4][usize::from(fhd & 3)];
    let fcs = match fhd >> 6 {
        0 => usize::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    (window, dict, fcs)
}

/// Whether `prefix` (under four bytes) could still become a zstd or skippable magic number.
fn could_be_magic(prefix: &[u8]) -> bool {
    let zstd = MAGIC.to_le_bytes();
    let skip = SKIPPABLE.start().to_le_bytes();
    zstd.starts_with(prefix)
        || prefix.iter().enumerate().all(|(i, b)| {
            if i == 0 {
                b & 0xf0 == skip[0]
            } else {
                *b == skip[i]
            }
        })
}

impl Frames {
    /// Feeds the next compressed bytes; decoded bytes go to `sink`, whose error stops the check
    /// once the frame it is in has proved intact.
    pub(super) fn update(
        &mut self,
        mut data: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        while !data.is_empty() {
            if let State::Skip(remaining) = &mut self.state {
                let take = (*remaining).min(data.len() as u64);
                *remaining -= take;
                self.offset += take;
                data = &data[take as usize..];
                if *remaining == 0 {
                    self.state = State::Magic;
                    self.start = self.offset;
                }
                continue;
            }
            // The usual case: the whole element is in `data`, and is decoded without a copy.
            if self.pending.is_empty() {
                let need = self.need(data)?;
                if data.len() >= need {
                    let (element, rest) = data.split_at(need);
                    self.offset += need as u64;
                    self.element(element, sink)?;
                    self.start = self.offset;
                    data = rest;
                    continue;
                }
            }
            // The length is re-read as the element grows: a header says how long it is.
            let need = self.need(&self.pending)?;
            let take = (need - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            self.offset += take as u64;
            data = &data[take..];
            if self.pending.len() == self.need(&self.pending)? {
                let element = std::mem::take(&mut self.pending);
                let done = self.element(&element, sink);
                self.pending = element;
                self.pending.clear();
                done?;
                self.start = self.offset;
            }
        }
        Ok(())
    }

    /// How long the current element is, as far as `prefix` (its first bytes) tells.
    fn need(&self, prefix: &[u8]) -> Result<usize, FormatError> {
        match &self.state {
            State::Magic if prefix.len() < 4 => Ok(4),
            State::Magic => {
                let magic = le(&prefix[..4]) as u32;
                if SKIPPABLE.contains(&magic) {
                    Ok(8)
                } else if magic != MAGIC {
                    Err(self.not_a_frame(&prefix[..4]))
                } else if prefix.len() < 5 {
                    Ok(5)
                } else {
                    let (window, dict, fcs) = header_fields(prefix[4]);
                    Ok(5 + window + dict + fcs)
                }
            }
            State::Blocks(_) if prefix.len() < 3 => Ok(3),
            State::Blocks(frame) => {
                let (last, kind, size) = block_header(prefix);
                let content = match kind {
                    0 | 2 => size,
                    1 => 1,
                    _ => return Err(self.at_frame("reserved block type 3".into())),
                };
                if size > MAX_BLOCK {
                    return Err(
                        self.at_frame(format!("block size {size} is over the 128 KiB limit"))
                    );
                }
                Ok(3 + content + if last && frame.checksum { 4 } else { 0 })
            }
            State::Skip(_) => unreachable!("skippable content is not collected"),
        }
    }

    fn not_a_frame(&self, magic: &[u8]) -> FormatError {
        let what = if self.frames == 0 {
            "not zstd: no zstd magic (28 b5 2f fd)".to_string()
        } else {
            format!(
                "garbage after frame {}: {} is neither a zstd nor a skippable frame magic",
                self.frames,
                magic
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        error(self.start, what)
    }

    fn at_frame(&self, reason: String) -> FormatError {
        error(self.start, format!("frame {}: {reason}", self.frames))
    }

    /// One whole element: a frame header (zstd or skippable) or a block.
    fn element(
        &mut self,
        bytes: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        match self.state {
            State::Magic => {
                self.frames += 1;
                let magic = le(&bytes[..4]) as u32;
                if SKIPPABLE.contains(&magic) {
                    let len = le(&bytes[4..8]);
                    if len > 0 {
                        self.state = State::Skip(len);
                    }
                    return Ok(());
                }
                self.start_frame(bytes)
            }
            State::Blocks(_) => self.block(bytes, sink),
            State::Skip(_) => unreachable!("skippable content is not collected"),
        }
    }

    fn start_frame(&mut self, header: &[u8]) -> Result<(), FormatError> {
        let fhd = header[4];
        if fhd & FHD_RESERVED != 0 {
            return Err(self.at_frame("the frame header's reserved bit is set".into()));
        }
        let (window_len, dict_len, fcs_len) = header_fields(fhd);
        let dict = le(&header[5 + window_len..][..dict_len]);
        let fcs = (fcs_len > 0).then(|| {
            let v = le(&header[5 + window_len + dict_len..][..fcs_len]);
            if fcs_len == 2 { v + 256 } else { v }
        });
        let window = if window_len == 1 {
            let (exp, mantissa) = (u64::from(header[5] >> 3), u64::from(header[5] & 7));
            let base = 1u64 << (10 + exp);
            base + base / 8 * mantissa
        } else {
            // A single-segment frame's window is its whole content.
            fcs.unwrap_or(0)
        };
        if window > MAX_WINDOW {
            return Err(self.at_frame(format!(
                "window size {window} is over the {MAX_WINDOW} bytes this check decodes"
            )));
        }
        if dict != 0 {
            return Err(self.at_frame(format!("needs dictionary {dict}, which is not in the file")));
        }
        self.decoder
            .reset(header)
            .map_err(|e| self.at_frame(format!("bad frame header: {e}")))?;
        self.state = State::Blocks(Frame {
            checksum: fhd & FHD_CHECKSUM != 0,
            content_size: fcs,
            produced: 0,
        });
        Ok(())
    }

    /// One whole block (and the checksum after a last block): decoded, drained to `sink`, and
    /// after the last block the frame's checksum and content size compared.
    fn block(
        &mut self,
        bytes: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        let mut source = bytes;
        // A decoder bug tripped by a damaged block must not take the download or `--verify`
        // down with it: a panic is one more way for the block to be corrupt. The decoder is
        // not used again, as the check ends with this error.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.decoder
                .decode_blocks(&mut source, BlockDecodingStrategy::UptoBlocks(1))
        }));
        match decoded {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(self.at_frame(format!("corrupt block: {e}"))),
            Err(_) => {
                return Err(self.at_frame("corrupt block: the decoder panicked on it".into()));
            }
        }
        if !source.is_empty() {
            return Err(self.at_frame(format!(
                "the block decoded from {} of its {} bytes",
                bytes.len() - source.len(),
                bytes.len()
            )));
        }
        let finished = self.decoder.is_finished();
        loop {
            let n = self
                .decoder
                .read(&mut self.out)
                .map_err(|e| self.at_frame(format!("decoding failed: {e}")))?;
            if n == 0 {
                break;
            }
            if let State::Blocks(frame) = &mut self.state {
                frame.produced += n as u64;
            }
            if self.deferred.is_none()
                && let Err(e) = sink(&self.out[..n])
            {
                self.deferred = Some(e);
            }
        }
        if finished {
            self.end_frame(bytes.len())?;
        }
        Ok(())
    }

    /// The frame's last block is decoded and drained: its checksum covers everything.
    fn end_frame(&mut self, block_len: usize) -> Result<(), FormatError> {
        let State::Blocks(frame) = std::mem::replace(&mut self.state, State::Magic) else {
            unreachable!("only called inside a frame");
        };
        if frame.checksum {
            let want = self.decoder.get_checksum_from_data();
            let got = self.decoder.get_calculated_checksum();
            if want != got {
                let at = self.start + block_len as u64 - 4;
                return Err(error(
                    at,
                    format!(
                        "frame {}: content checksum mismatch: the frame says {:08x}, \
                         the content hashes to {:08x}",
                        self.frames,
                        want.unwrap_or(0),
                        got.unwrap_or(0)
                    ),
                ));
            }
        }
        if let Some(size) = frame.content_size.filter(|s| *s != frame.produced) {
            return Err(self.at_frame(format!(
                "the header says {size} bytes of content, the frame decodes to {}",
                frame.produced
            )));
        }
        self.deferred.take().map_or(Ok(()), Err)
    }

    /// Ends the stream: it must stop between frames, after at least one.
    pub(super) fn finish(&self) -> Result<(), FormatError> {
        match &self.state {
            State::Skip(missing) => {
                return Err(self.at_frame(format!(
                    "truncated: the file ends inside a skippable frame ({missing} bytes missing)"
                )));
            }
            State::Magic if !self.pending.is_empty() && !could_be_magic(&self.pending) => {
                return Err(self.not_a_frame(&self.pending));
            }
            State::Magic if !self.pending.is_empty() => {
                return Err(error(
                    self.start,
                    format!(
                        "truncated: the file ends inside the header of frame {}",
                        self.frames + 1
                    ),
                ));
            }
            State::Blocks(_) if !self.pending.is_empty() => {
                let need = self.need(&self.pending)?;
                return Err(self.at_frame(format!(
                    "truncated: the file ends inside a block ({} of {need} bytes)",
                    self.pending.len()
                )));
            }
            State::Blocks(_) => {
                return Err(error(
                    self.offset,
                    format!(
                        "truncated: the file ends before the last block of frame {}",
                        self.frames
                    ),
                ));
            }
            State::Magic => {}
        }
        if self.frames == 0 {
            return Err(error(0, "empty file: no zstd frame".into()));
        }
        Ok(())
    }
}
