//! Deterministic object bytes: any byte range of any size, generated on the fly.
//!
//! Owns the layout of an object (a list of fixed framing bytes and pseudo-random runs), reading an
//! arbitrary range of it into a buffer, and the one full pass that computes its CRC-64/XZ. Memory
//! is bounded by the framing, never by the object size, so a 2 GiB object costs a few MiB at most.
//! It knows nothing about HTTP or faults.
//!
//! The pseudo-random runs are windows of one shared pool of SplitMix64 output (16 MiB plus an odd
//! tail), each seed starting at its own place and wrapping around, so byte `n` is found without
//! generating bytes `0..n`, and a body is served as slices of the pool ([`Layout::chunk_at`])
//! without generating or copying anything per request. That keeps the emulator's CPU out of the
//! way of the client it is measured against (see `bench/run.sh`). Framing is real but cheap: gzip
//! with stored (uncompressed) deflate blocks, a ustar header, xbstream chunk headers with CRC-32
//! checksums. A DBS export (built whole by `export`) is served through the same [`ObjectInfo`]
//! as one shared buffer ([`ObjectInfo::of_bytes`]).

use std::sync::OnceLock;

use bytes::Bytes;
use crc_fast::{CrcAlgorithm, Digest};

use super::data::ContentFormat;

/// Everything needed to generate an object; equal keys give identical bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub backup_id: String,
    pub name: String,
    pub size: u64,
    pub version: u32,
    pub format: ContentFormat,
}

/// A built object: its layout plus what the HTTP headers need.
#[derive(Debug)]
pub struct ObjectInfo {
    pub layout: Layout,
    /// Quoted, upper-case hex, like OSS.
    pub etag: String,
    /// CRC-64/XZ of the whole object (`x-oss-hash-crc64ecma`).
    pub crc64: u64,
}

impl ObjectInfo {
    /// Builds the layout and makes the full CRC pass: CPU bound, run it off the async threads.
    pub fn build(key: &ObjectKey) -> ObjectInfo {
        let seed = seed_of(key);
        let layout = Layout::build(key.format, key.size, seed, &key.backup_id);
        let crc64 = layout.crc(CrcAlgorithm::Crc64Xz, 0, layout.size);
        let etag = format!(
            "\"{:016X}{:016X}\"",
            mix(seed ^ key.size),
            mix(seed.wrapping_add(u64::from(key.version)) ^ 0x5EED)
        );
        ObjectInfo {
            layout,
            etag,
            crc64,
        }
    }
}

impl ObjectInfo {
    /// An object whose bytes are already built (a DBS export): one pass for the CRC, and the body
    /// is served as slices of `bytes`, never copied per request.
    pub fn of_bytes(bytes: Bytes) -> ObjectInfo {
        let crc64 = crc_fast::checksum(CrcAlgorithm::Crc64Xz, &bytes);
        let len = bytes.len() as u64;
        let etag = format!("\"{:016X}{:016X}\"", mix(crc64 ^ len), mix(crc64 ^ 0xE1A6));
        let mut layout = Layout::default();
        layout.push(Seg::Shared(bytes));
        ObjectInfo {
            layout,
            etag,
            crc64,
        }
    }
}

fn seed_of(key: &ObjectKey) -> u64 {
    // FNV-1a over the identity, then mixed: stable across runs and platforms (unlike `Hash`).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [key.backup_id.as_bytes(), b"\0", key.name.as_bytes(), b"\0"];
    for b in parts.iter().flat_map(|p| p.iter()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h ^ u64::from(key.version).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// SplitMix64's finaliser: a good 64-bit mix, about a nanosecond per call.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The pool's length: not a power of two, so the runs of different seeds rarely line up and an
/// object repeats itself only every ~16 MiB.
const POOL_LEN: u64 = (16 << 20) + 4099;

/// The shared pseudo-random bytes, built once per process (~20 ms).
fn pool() -> &'static Bytes {
    static POOL: OnceLock<Bytes> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut v = Vec::with_capacity(POOL_LEN as usize + 8);
        let mut i = 0u64;
        while (v.len() as u64) < POOL_LEN {
            v.extend_from_slice(&mix(i.wrapping_mul(0xD6E8_FEB8_6659_FD93)).to_le_bytes());
            i += 1;
        }
        v.truncate(POOL_LEN as usize);
        Bytes::from(v)
    })
}

/// Where byte `at` of the pseudo-random stream `seed` sits in the pool.
fn pool_pos(seed: u64, at: u64) -> u64 {
    (mix(seed) % POOL_LEN + at % POOL_LEN) % POOL_LEN
}

/// Up to `max` bytes of stream `seed` from `at`, as one slice of the pool (shorter at the wrap).
fn random_slice(seed: u64, at: u64, max: u64) -> Bytes {
    let p = pool_pos(seed, at);
    let n = max.min(POOL_LEN - p);
    pool().slice(p as usize..(p + n) as usize)
}

/// Fills `buf` with bytes `at..at+buf.len()` of the pseudo-random stream `seed`.
fn fill_random(seed: u64, at: u64, buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        let part = random_slice(seed, at + done as u64, (buf.len() - done) as u64);
        buf[done..done + part.len()].copy_from_slice(&part);
        done += part.len();
    }
}

#[derive(Clone, Debug)]
enum Seg {
    Fixed(Vec<u8>),
    /// Bytes built elsewhere, served by slicing.
    Shared(Bytes),
    /// `len` bytes of stream `seed` starting at stream offset `offset`.
    Random {
        seed: u64,
        offset: u64,
        len: u64,
    },
}

impl Seg {
    fn len(&self) -> u64 {
        match self {
            Seg::Fixed(b) => b.len() as u64,
            Seg::Shared(b) => b.len() as u64,
            Seg::Random { len, .. } => *len,
        }
    }
}

/// An object as a sequence of segments, read by offset.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    starts: Vec<u64>,
    segs: Vec<Seg>,
    pub size: u64,
}

impl Layout {
    fn push(&mut self, seg: Seg) {
        if seg.len() == 0 {
            return;
        }
        self.starts.push(self.size);
        self.size += seg.len();
        self.segs.push(seg);
    }

    fn fixed(&mut self, bytes: Vec<u8>) {
        self.push(Seg::Fixed(bytes));
    }

    fn of_bytes(bytes: Vec<u8>) -> Layout {
        let mut l = Layout::default();
        l.fixed(bytes);
        l
    }

    fn random(seed: u64, len: u64) -> Layout {
        let mut l = Layout::default();
        l.push(Seg::Random {
            seed,
            offset: 0,
            len,
        });
        l
    }

    /// Appends `len` bytes of `other` from `from` (segment slices, no copying of random runs).
    fn append_slice(&mut self, other: &Layout, from: u64, len: u64) {
        let end = from + len;
        let first = other
            .starts
            .partition_point(|s| *s <= from)
            .saturating_sub(1);
        for (start, seg) in other.starts[first..].iter().zip(&other.segs[first..]) {
            if *start >= end {
                break;
            }
            let lo = from.max(*start) - start;
            let hi = end.min(start + seg.len()) - start;
            match seg {
                Seg::Fixed(b) => self.fixed(b[lo as usize..hi as usize].to_vec()),
                Seg::Shared(b) => self.push(Seg::Shared(b.slice(lo as usize..hi as usize))),
                Seg::Random { seed, offset, .. } => self.push(Seg::Random {
                    seed: *seed,
                    offset: offset + lo,
                    len: hi - lo,
                }),
            }
        }
    }

    /// Fills `buf` with the object bytes at `at..`; bytes past the end are left untouched.
    pub fn read_at(&self, at: u64, buf: &mut [u8]) {
        if at >= self.size {
            return;
        }
        let mut idx = self.starts.partition_point(|s| *s <= at).saturating_sub(1);
        let mut pos = at;
        let mut filled = 0usize;
        while filled < buf.len() && idx < self.segs.len() {
            let (start, seg) = (self.starts[idx], &self.segs[idx]);
            let lo = pos - start;
            let take = ((seg.len() - lo) as usize).min(buf.len() - filled);
            let out = &mut buf[filled..filled + take];
            match seg {
                Seg::Fixed(b) => out.copy_from_slice(&b[lo as usize..lo as usize + take]),
                Seg::Shared(b) => out.copy_from_slice(&b[lo as usize..lo as usize + take]),
                Seg::Random { seed, offset, .. } => fill_random(*seed, offset + lo, out),
            }
            filled += take;
            pos += take as u64;
            idx += 1;
        }
    }

    /// Up to `max` object bytes from `at` without copying random runs: the rest of the segment
    /// `at` falls in, bounded by `max` and the pool's wrap. Empty at or past the end.
    pub fn chunk_at(&self, at: u64, max: u64) -> Bytes {
        if at >= self.size || max == 0 {
            return Bytes::new();
        }
        let idx = self.starts.partition_point(|s| *s <= at) - 1;
        let (start, seg) = (self.starts[idx], &self.segs[idx]);
        let lo = at - start;
        let take = (seg.len() - lo).min(max);
        match seg {
            Seg::Fixed(b) => Bytes::copy_from_slice(&b[lo as usize..(lo + take) as usize]),
            Seg::Shared(b) => b.slice(lo as usize..(lo + take) as usize),
            Seg::Random { seed, offset, .. } => random_slice(*seed, offset + lo, take),
        }
    }

    /// The CRC (`algorithm`) of bytes `from..from+len`, generated 1 MiB at a time.
    fn crc(&self, algorithm: CrcAlgorithm, from: u64, len: u64) -> u64 {
        let mut digest = Digest::new(algorithm);
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = from;
        let end = from + len;
        while pos < end {
            let n = ((end - pos) as usize).min(buf.len());
            self.read_at(pos, &mut buf[..n]);
            digest.update(&buf[..n]);
            pos += n as u64;
        }
        digest.finalize()
    }

    /// The object of exactly `size` bytes in `format`; formats whose framing does not fit in
    /// `size` fall back to a simpler one (tar.gz → gzip → random).
    pub fn build(format: ContentFormat, size: u64, seed: u64, backup_id: &str) -> Layout {
        let built = match format {
            ContentFormat::Random => None,
            ContentFormat::TarGzip => {
                tar_gzip(size, seed, backup_id).or_else(|| gzip_of_random(size, seed, &[]))
            }
            ContentFormat::ArchiveGzip => gzip_of_random(size, seed, &MONGO_ARCHIVE_MAGIC),
            ContentFormat::Xbstream => xbstream(size, seed, backup_id),
        };
        built.unwrap_or_else(|| Layout::random(seed, size))
    }
}

/// `mongodump --archive` starts with the little-endian magic number 0x8199e26d.
const MONGO_ARCHIVE_MAGIC: [u8; 4] = [0x6d, 0xe2, 0x99, 0x81];

const STORED_MAX: u64 = 65_535;
const GZIP_FIXED: u64 = 10 + 8;

fn deflate_len(payload: u64) -> u64 {
    payload + 5 * payload.div_ceil(STORED_MAX).max(1)
}

/// Wraps `payload` in gzip with stored deflate blocks, padding the header with a comment
/// (`FCOMMENT`) of `slack` bytes so the total hits an exact size.
fn gzip(payload: &Layout, slack: u64) -> Layout {
    let mut out = Layout::default();
    let flags = if slack > 0 { 0x10 } else { 0 };
    out.fixed(vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 0xff]);
    if slack > 0 {
        let mut comment = vec![b'.'; slack as usize];
        comment[slack as usize - 1] = 0;
        out.fixed(comment);
    }
    let mut at = 0;
    loop {
        let n = (payload.size - at).min(STORED_MAX);
        let last = at + n == payload.size;
        let (len, nlen) = ((n as u16).to_le_bytes(), (!(n as u16)).to_le_bytes());
        out.fixed(vec![u8::from(last), len[0], len[1], nlen[0], nlen[1]]);
        out.append_slice(payload, at, n);
        at += n;
        if last {
            break;
        }
    }
    let crc32 = payload.crc(CrcAlgorithm::Crc32IsoHdlc, 0, payload.size) as u32;
    let mut trailer = crc32.to_le_bytes().to_vec();
    trailer.extend_from_slice(&(payload.size as u32).to_le_bytes());
    out.fixed(trailer);
    out
}

/// The largest payload length whose gzip fits in `size`, and the slack left over.
fn fit_gzip(size: u64, candidate: impl Fn(u64) -> Option<u64>) -> Option<(u64, u64)> {
    // `candidate(hint)` rounds a payload length down to one the payload format can produce;
    // deflate overhead grows by 5 bytes per 64 KiB, so a couple of steps down always converge.
    let mut hint = size.checked_sub(GZIP_FIXED + 5)?;
    for _ in 0..64 {
        let p = candidate(hint)?;
        let total = GZIP_FIXED + deflate_len(p);
        if total <= size {
            return Some((p, size - total));
        }
        hint = p.checked_sub(total - size)?;
    }
    None
}

/// `payload` as a gzip stream of stored deflate blocks: valid for any gunzip, and cheap (no
/// compressor needed).
pub(crate) fn gzip_stored(payload: Vec<u8>) -> Vec<u8> {
    let out = gzip(&Layout::of_bytes(payload), 0);
    let mut v = vec![0; out.size as usize];
    out.read_at(0, &mut v);
    v
}

fn gzip_of_random(size: u64, seed: u64, prefix: &[u8]) -> Option<Layout> {
    let (p, slack) = fit_gzip(size, |hint| (hint >= prefix.len() as u64).then_some(hint))?;
    let mut payload = Layout::default();
    payload.fixed(prefix.to_vec());
    payload.push(Seg::Random {
        seed,
        offset: 0,
        len: p - prefix.len() as u64,
    });
    Some(gzip(&payload, slack))
}

fn tar_gzip(size: u64, seed: u64, backup_id: &str) -> Option<Layout> {
    // ustar: one 512-byte header, data padded to 512, then two zero blocks. Sizes in octal
    // must stay below 8 GiB, so bigger objects use the plain gzip framing.
    let (p, slack) = fit_gzip(size, |hint| {
        let data = hint.checked_sub(1536)? / 512 * 512;
        (data < 1 << 33).then_some(data + 1536)
    })?;
    let data = p - 1536;
    let mut payload = Layout::default();
    payload.fixed(tar_header(&format!("dds-backup/{backup_id}.bson"), data));
    payload.push(Seg::Random {
        seed,
        offset: 0,
        len: data,
    });
    payload.fixed(vec![0; 1024]);
    Some(gzip(&payload, slack))
}

fn tar_header(name: &str, size: u64) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    let mut put = |at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(0, &name.as_bytes()[..name.len().min(99)]);
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{size:011o}\0").as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Percona xbstream: per chunk `XBSTCK01`, flags, type, path length (u32 LE), path, then for
/// payload chunks length (u64 LE), offset (u64 LE), CRC-32 of the payload (u32 LE), payload.
/// An `E` chunk (no length/offset/checksum) closes each file.
fn xbstream(size: u64, seed: u64, backup_id: &str) -> Option<Layout> {
    const CHUNK: u64 = 1 << 20;
    let cnf = format!("[mysqld]\n# dds-emulator backup {backup_id}\nserver_id=1\n").into_bytes();
    let checkpoints = b"backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 1626000\n".to_vec();
    let (cnf_path, checkpoints_path, big) =
        ("backup-my.cnf", "xtrabackup_checkpoints", "ibdata1.qp");
    let header = |path: &str| 14 + path.len() as u64 + 20;
    let eof = |path: &str| 14 + path.len() as u64;
    let fixed = header(cnf_path)
        + cnf.len() as u64
        + eof(cnf_path)
        + header(checkpoints_path)
        + checkpoints.len() as u64
        + eof(checkpoints_path)
        + eof(big);
    // The big file takes what is left: `rest` = data + chunks * header. Find the smallest chunk
    // count whose chunks hold the data without exceeding CHUNK each.
    let rest = size.checked_sub(fixed)?;
    let mut chunks = (rest / (CHUNK + header(big))).max(1);
    let data = loop {
        let data = rest.checked_sub(chunks * header(big))?;
        if data <= chunks * CHUNK {
            break data;
        }
        chunks += 1;
    };
    if data < chunks && !(data == 0 && chunks == 1) {
        return None;
    }
    // Exactly `chunks` pieces: the first `data % chunks` one byte longer than the others.
    let (q, r) = (data / chunks, data % chunks);
    let big_sizes: Vec<u64> = (0..chunks).map(|i| q + u64::from(i < r)).collect();
    let mut out = Layout::default();
    xb_file(&mut out, cnf_path, &Layout::of_bytes(cnf), None);
    out.fixed(chunk_start(b'E', cnf_path));
    xb_file(&mut out, big, &Layout::random(seed, data), Some(&big_sizes));
    xb_file(
        &mut out,
        checkpoints_path,
        &Layout::of_bytes(checkpoints),
        None,
    );
    out.fixed(chunk_start(b'E', checkpoints_path));
    out.fixed(chunk_start(b'E', big));
    (out.size == size).then_some(out)
}

/// Appends `body` as payload chunks of the given sizes (one chunk when `None`).
fn xb_file(out: &mut Layout, path: &str, body: &Layout, sizes: Option<&[u64]>) {
    let whole = [body.size];
    let mut at = 0;
    for &n in sizes.unwrap_or(&whole) {
        let crc = body.crc(CrcAlgorithm::Crc32IsoHdlc, at, n) as u32;
        let mut h = chunk_start(b'P', path);
        h.extend_from_slice(&n.to_le_bytes());
        h.extend_from_slice(&at.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        out.fixed(h);
        out.append_slice(body, at, n);
        at += n;
    }
}

fn chunk_start(kind: u8, path: &str) -> Vec<u8> {
    let mut h = b"XBSTCK01".to_vec();
    h.push(0);
    h.push(kind);
    h.extend_from_slice(&(path.len() as u32).to_le_bytes());
    h.extend_from_slice(path.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(l: &Layout) -> Vec<u8> {
        let mut v = vec![0; l.size as usize];
        l.read_at(0, &mut v);
        v
    }

    fn key(format: ContentFormat, size: u64) -> ObjectKey {
        ObjectKey {
            backup_id: "32102001".into(),
            name: "x".into(),
            size,
            version: 0,
            format,
        }
    }

    #[test]
    fn every_format_hits_the_exact_size_for_many_sizes() {
        let formats = [
            ContentFormat::Random,
            ContentFormat::TarGzip,
            ContentFormat::ArchiveGzip,
            ContentFormat::Xbstream,
        ];
        let sizes = [
            0,
            1,
            22,
            23,
            24,
            200,
            1558,
            1559,
            1560,
            4096,
            65_535 + 23,
            70_000,
            200_001,
        ];
        for f in formats {
            for s in sizes {
                let l = Layout::build(f, s, 7, "1");
                assert_eq!(l.size, s, "{f} {s}");
                assert_eq!(bytes(&l).len() as u64, s);
            }
        }
        let l = Layout::build(ContentFormat::Xbstream, 3 << 20, 7, "1");
        assert_eq!(l.size, 3 << 20);
    }

    #[test]
    fn any_range_equals_the_slice_of_the_whole() {
        for f in [
            ContentFormat::TarGzip,
            ContentFormat::Xbstream,
            ContentFormat::Random,
        ] {
            let l = Layout::build(f, 150_001, 42, "9");
            let all = bytes(&l);
            for (at, n) in [
                (0, 1),
                (3, 17),
                (9, 8),
                (65_530, 20),
                (150_000, 1),
                (100, 60_000),
            ] {
                let mut buf = vec![0; n];
                l.read_at(at, &mut buf);
                assert_eq!(buf, all[at as usize..at as usize + n], "{f} {at} {n}");
            }
        }
    }

    #[test]
    fn chunks_put_together_equal_the_whole_and_random_runs_are_not_copied() {
        for f in [
            ContentFormat::TarGzip,
            ContentFormat::Xbstream,
            ContentFormat::Random,
        ] {
            // Longer than the pool, so random runs wrap around it.
            let l = Layout::build(f, POOL_LEN + 300_001, 42, "9");
            let all = bytes(&l);
            for (start, max) in [(0, 65_536), (7, 100_000), (POOL_LEN - 5, 1 << 20)] {
                let mut at = start;
                while at < l.size {
                    let c = l.chunk_at(at, max);
                    assert!(!c.is_empty() && c.len() as u64 <= max, "{f} at {at}");
                    assert_eq!(c, all[at as usize..at as usize + c.len()], "{f} at {at}");
                    at += c.len() as u64;
                }
            }
            assert!(l.chunk_at(l.size, 10).is_empty());
        }
        let pool_range = pool().as_ptr_range();
        let c = Layout::random(3, 1000).chunk_at(10, 100);
        assert!(
            pool_range.contains(&c.as_ptr()),
            "a random run is a slice of the pool"
        );
    }

    #[test]
    fn seeds_start_at_different_places() {
        let firsts: std::collections::HashSet<Bytes> = (0..1000u64)
            .map(|seed| random_slice(mix(seed), 0, 16))
            .collect();
        assert_eq!(firsts.len(), 1000);
    }

    #[test]
    fn gzip_framing_is_valid_and_crc_matches() {
        // A hand-rolled inflate of stored blocks checks framing, lengths and the trailer.
        let l = Layout::build(ContentFormat::TarGzip, 200_000, 1, "5");
        let all = bytes(&l);
        assert_eq!(&all[..3], &[0x1f, 0x8b, 8]);
        let mut i = 10;
        if all[3] & 0x10 != 0 {
            while all[i] != 0 {
                i += 1;
            }
            i += 1;
        }
        let mut payload = Vec::new();
        loop {
            let last = all[i] & 1 == 1;
            let len = u16::from_le_bytes([all[i + 1], all[i + 2]]) as usize;
            assert_eq!(!u16::from_le_bytes([all[i + 3], all[i + 4]]) as usize, len);
            payload.extend_from_slice(&all[i + 5..i + 5 + len]);
            i += 5 + len;
            if last {
                break;
            }
        }
        assert_eq!(all.len(), i + 8);
        let crc = crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, &payload) as u32;
        assert_eq!(all[i..i + 4], crc.to_le_bytes());
        assert_eq!(&payload[257..262], b"ustar");
        assert_eq!(payload.len() % 512, 0);
    }

    #[test]
    fn xbstream_chunks_parse_with_valid_checksums() {
        let l = Layout::build(ContentFormat::Xbstream, 2_500_000, 3, "5");
        let all = bytes(&l);
        let (mut i, mut eofs, mut payload) = (0, 0, 0u64);
        while i < all.len() {
            assert_eq!(&all[i..i + 8], b"XBSTCK01");
            let kind = all[i + 9];
            let plen = u32::from_le_bytes(all[i + 10..i + 14].try_into().unwrap()) as usize;
            i += 14 + plen;
            if kind == b'E' {
                eofs += 1;
                continue;
            }
            assert_eq!(kind, b'P');
            let n = u64::from_le_bytes(all[i..i + 8].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(all[i + 16..i + 20].try_into().unwrap());
            let body = &all[i + 20..i + 20 + n];
            assert_eq!(
                crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, body) as u32,
                crc
            );
            payload += n as u64;
            i += 20 + n;
        }
        assert_eq!(i, all.len());
        assert_eq!(eofs, 3);
        assert!(payload > 2_400_000);
    }

    #[test]
    fn prebuilt_objects_are_sliced_not_copied() {
        let data = Bytes::from((0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let info = ObjectInfo::of_bytes(data.clone());
        assert_eq!(info.layout.size, 100_000);
        assert_eq!(bytes(&info.layout), data.to_vec());
        let c = info.layout.chunk_at(10, 50);
        assert_eq!(c, data.slice(10..60));
        assert!(
            data.as_ptr_range().contains(&c.as_ptr()),
            "a slice of the buffer"
        );
        assert_eq!(info.crc64, crc_fast::checksum(CrcAlgorithm::Crc64Xz, &data));
        let gz = gzip_stored(b"hello".to_vec());
        assert_eq!((&gz[..3], gz.len()), (&[0x1f, 0x8b, 8][..], 10 + 5 + 5 + 8));
    }

    #[test]
    fn object_info_is_deterministic_and_versions_differ() {
        let a = ObjectInfo::build(&key(ContentFormat::Xbstream, 100_000));
        let b = ObjectInfo::build(&key(ContentFormat::Xbstream, 100_000));
        assert_eq!((a.crc64, &a.etag), (b.crc64, &b.etag));
        assert_eq!(
            a.crc64,
            crc_fast::checksum(CrcAlgorithm::Crc64Xz, &bytes(&a.layout))
        );
        let mut k = key(ContentFormat::Xbstream, 100_000);
        k.version = 1;
        let c = ObjectInfo::build(&k);
        assert_ne!(a.etag, c.etag);
        assert_ne!(a.crc64, c.crc64);
    }
}
