use std::io::{self, Read, Write};

use super::*;

fn gzip(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sample() -> Vec<u8> {
    (0..500_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// A member with every optional header field (FEXTRA, FNAME, FCOMMENT, FHCRC), built by hand.
fn gzip_all_fields(data: &[u8], hcrc_delta: u16) -> Vec<u8> {
    let mut h = vec![0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 3];
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(b"AB\x00\x00");
    h.extend_from_slice(b"dump.archive\0");
    h.extend_from_slice(b"a comment\0");
    let crc16 = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &h) as u16;
    h.extend_from_slice(&crc16.wrapping_add(hcrc_delta).to_le_bytes());
    let mut d = flate2::write::DeflateEncoder::new(h, flate2::Compression::default());
    d.write_all(data).unwrap();
    let mut out = d.finish().unwrap();
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data) as u32;
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[test]
fn names_pick_formats() {
    for (name, f) in [
        ("a.tar.gz", Some(Format::Gzip)),
        ("a.TGZ", Some(Format::Gzip)),
        ("dump.ar", Some(Format::Gzip)),
        ("hins_data_qp.xb", Some(Format::Xbstream)),
        ("a.bin", None),
        ("a.tar", None),
    ] {
        assert_eq!(Format::for_name(name), f, "{name}");
    }
}

#[test]
fn check_format_reports_rather_than_guesses() {
    let good = gzip(b"hello", flate2::Compression::fast());
    assert_eq!(
        check_format("x.tar.gz", &good[..]),
        Ok(FormatOutcome::Valid(Format::Gzip))
    );
    assert_eq!(
        check_format("x_qp.xb", &xbstream()[..]),
        Ok(FormatOutcome::Valid(Format::Xbstream))
    );
    // Garbage behind an unknown extension is not this check's business.
    assert_eq!(
        check_format("x.bin", &b"garbage"[..]),
        Ok(FormatOutcome::NotApplicable)
    );
    let e = check_format("x.ar", &b"garbage"[..]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "gzip member 1 at byte 0: no gzip magic (1f 8b)"
    );
}

#[test]
fn valid_gzip_table() {
    let data = sample();
    let fast = gzip(&data, flate2::Compression::fast());
    let mut two = fast.clone();
    two.extend(gzip(b"second member", flate2::Compression::best()));
    let mut with_empty = gzip(b"", flate2::Compression::fast());
    with_empty.extend(gzip(b"x", flate2::Compression::none()));
    for (what, bytes) in [
        ("fast", fast),
        ("stored blocks", gzip(&data, flate2::Compression::none())),
        ("multi-member", two),
        ("empty member first", with_empty),
        ("every optional header field", gzip_all_fields(&data, 0)),
    ] {
        assert_eq!(check(Format::Gzip, &bytes[..]), Ok(()), "{what}");
    }
}

/// A broken file: what, its bytes, the member and the offset the error must name (`None`:
/// any offset), and what its reason must say.
type GzipCase = (String, Vec<u8>, Option<u64>, Option<u64>, &'static str);

#[test]
fn broken_gzip_table() {
    let data = sample();
    let good = gzip(&data, flate2::Compression::fast());
    let n = good.len() as u64;
    let stored = gzip(&data, flate2::Compression::none());
    let second = gzip(b"the second member", flate2::Compression::fast());
    let mut two = good.clone();
    two.extend_from_slice(&second);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let mut cases: Vec<GzipCase> = vec![
        ("empty file".into(), Vec::new(), None, Some(0), "empty file"),
        (
            "one byte".into(),
            good[..1].to_vec(),
            Some(1),
            Some(0),
            "no gzip magic",
        ),
        (
            "not gzip".into(),
            b"PK\x03\x04 zip".to_vec(),
            Some(1),
            Some(0),
            "no gzip magic",
        ),
        (
            "cut in the header".into(),
            good[..6].to_vec(),
            Some(1),
            Some(0),
            "inside the header",
        ),
        (
            "cut in the trailer".into(),
            good[..good.len() - 5].to_vec(),
            Some(1),
            Some(n - 8),
            "inside the CRC32/ISIZE trailer",
        ),
        (
            "cut before the trailer's last byte".into(),
            good[..good.len() - 1].to_vec(),
            Some(1),
            Some(n - 8),
            "trailer",
        ),
        (
            "bad CRC32 trailer".into(),
            with(&|b| {
                let i = b.len() - 8;
                b[i] ^= 1
            }),
            Some(1),
            Some(n - 8),
            "CRC32 mismatch",
        ),
        (
            "bad ISIZE".into(),
            with(&|b| {
                let i = b.len() - 1;
                b[i] ^= 1
            }),
            Some(1),
            Some(n - 4),
            "ISIZE mismatch",
        ),
        (
            "trailing garbage".into(),
            with(&|b| b.extend_from_slice(b"garbage")),
            None,
            Some(n),
            "7 bytes of trailing garbage after member 1",
        ),
        (
            "trailing zeros".into(),
            with(&|b| b.extend_from_slice(&[0; 512])),
            None,
            Some(n),
            "512 bytes of trailing garbage",
        ),
        (
            "one trailing byte".into(),
            with(&|b| b.push(0x1f)),
            None,
            Some(n),
            "1 bytes of trailing garbage",
        ),
        (
            "compression method".into(),
            with(&|b| b[2] = 9),
            Some(1),
            Some(2),
            "compression method 9",
        ),
        (
            "reserved flags".into(),
            with(&|b| b[3] |= 0x80),
            Some(1),
            Some(3),
            "reserved header flag",
        ),
        (
            "bad header CRC16".into(),
            gzip_all_fields(&data, 1),
            Some(1),
            None,
            "header CRC16 mismatch",
        ),
        (
            "second member's CRC32".into(),
            {
                let mut b = two.clone();
                let i = b.len() - 8;
                b[i] ^= 0x10;
                b
            },
            Some(2),
            Some(two.len() as u64 - 8),
            "CRC32 mismatch",
        ),
        (
            "second member cut".into(),
            two[..two.len() - 3].to_vec(),
            Some(2),
            Some(two.len() as u64 - 8),
            "truncated",
        ),
        (
            "second member not gzip".into(),
            {
                let mut b = two.clone();
                b[good.len() + 1] = 0;
                b
            },
            None,
            Some(n),
            "trailing garbage after member 1",
        ),
    ];
    // Data bytes flipped inside stored blocks inflate fine and are caught by the CRC32.
    let mut flipped = stored.clone();
    flipped[stored.len() / 2] ^= 0x40;
    cases.push((
        "flipped stored byte".into(),
        flipped,
        Some(1),
        Some(stored.len() as u64 - 8),
        "CRC32 mismatch",
    ));
    for cut in [10, 100, good.len() / 3, good.len() / 2, good.len() - 9] {
        cases.push((
            format!("cut at {cut}"),
            good[..cut].to_vec(),
            Some(1),
            None,
            "truncated",
        ));
    }
    for (what, bytes, member, offset, needle) in cases {
        let e = check(Format::Gzip, &bytes[..]).expect_err(&what);
        assert_eq!(e.format, "gzip", "{what}");
        assert_eq!(e.member, member, "{what}: {e}");
        if let Some(offset) = offset {
            assert_eq!(e.offset, offset, "{what}: {e}");
        }
        assert!(e.reason.contains(needle), "{what}: {e}");
    }
}

#[test]
fn a_flipped_compressed_byte_is_always_caught() {
    let data = sample();
    let good = gzip(&data, flate2::Compression::default());
    // Every 97th byte of the deflate data: whatever it does to the inflater, the member fails.
    for i in (10..good.len() - 8).step_by(97) {
        let mut bad = good.clone();
        bad[i] ^= 0x04;
        let e = check(Format::Gzip, &bad[..]).expect_err(&format!("flip at {i}"));
        assert_eq!(e.member, Some(1), "flip at {i}: {e}");
        assert!(
            [
                "deflate data is corrupt",
                "CRC32 mismatch",
                "ISIZE mismatch",
                "truncated",
                "trailing garbage"
            ]
            .iter()
            .any(|n| e.reason.contains(n)),
            "flip at {i}: {e}"
        );
    }
}

#[test]
fn the_message_names_member_offset_and_check() {
    let mut two = gzip(b"first", flate2::Compression::fast());
    let first = two.len();
    two.extend(gzip(b"second", flate2::Compression::fast()));
    let i = two.len() - 8;
    two[i] ^= 1;
    let e = check(Format::Gzip, &two[..]).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "gzip member 2 at byte {i}: CRC32 mismatch: the trailer says "
        )),
        "{e} (first member is {first} bytes)"
    );
}

/// A reader that fails after `ok` bytes.
struct Failing<'a> {
    data: &'a [u8],
    ok: usize,
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.ok).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.ok -= n;
        Ok(n)
    }
}

#[test]
fn read_errors_are_reported_not_mistaken_for_content() {
    let good = gzip(&sample(), flate2::Compression::fast());
    let e = check(
        Format::Gzip,
        Failing {
            data: &good,
            ok: 1000,
        },
    )
    .unwrap_err();
    assert!(e.reason.contains("read failed: disk on fire"), "{e}");
    let xb = xbstream();
    let e = check(
        Format::Xbstream,
        Failing {
            data: &xb,
            ok: 1000,
        },
    )
    .unwrap_err();
    assert!(e.reason.contains("read failed: disk on fire"), "{e}");
}

fn xb_chunk(kind: u8, path: &str, offset: u64, payload: &[u8]) -> Vec<u8> {
    xb_raw(0, kind, path.as_bytes(), offset, payload)
}

fn xb_raw(flags: u8, kind: u8, path: &[u8], offset: u64, payload: &[u8]) -> Vec<u8> {
    let mut c = MAGIC.to_vec();
    c.push(flags);
    c.push(kind);
    c.extend_from_slice(&(path.len() as u32).to_le_bytes());
    c.extend_from_slice(path);
    if kind != b'E' {
        c.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        c.extend_from_slice(&offset.to_le_bytes());
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, payload) as u32;
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(payload);
    }
    c
}

/// A sparse chunk: map size, payload header, then the map and the payload under one CRC32.
fn xb_sparse(path: &str, offset: u64, map: &[(u32, u32)], payload: &[u8]) -> Vec<u8> {
    let mut c = MAGIC.to_vec();
    c.extend_from_slice(&[0, b'S']);
    c.extend_from_slice(&(path.len() as u32).to_le_bytes());
    c.extend_from_slice(path.as_bytes());
    c.extend_from_slice(&(map.len() as u32).to_le_bytes());
    c.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    c.extend_from_slice(&offset.to_le_bytes());
    let mut body = Vec::new();
    for (skip, len) in map {
        body.extend_from_slice(&skip.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
    }
    body.extend_from_slice(payload);
    let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, &body) as u32;
    c.extend_from_slice(&crc.to_le_bytes());
    c.extend(body);
    c
}

fn xbstream() -> Vec<u8> {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let mut s = xb_chunk(b'P', "ibdata1.qp", 0, &data[..200_000]);
    s.extend(xb_chunk(b'P', "backup-my.cnf", 0, b"[mysqld]\n"));
    s.extend(xb_chunk(b'P', "ibdata1.qp", 200_000, &data[200_000..]));
    s.extend(xb_chunk(b'E', "ibdata1.qp", 0, &[]));
    s.extend(xb_chunk(b'E', "backup-my.cnf", 0, &[]));
    s
}

#[test]
fn valid_xbstream_table() {
    let mut ignorable = xb_chunk(b'P', "a.qp", 0, b"abc");
    ignorable.extend(xb_raw(IGNORABLE, b'Z', b"meta", 77, b"skipped"));
    ignorable.extend(xb_chunk(b'E', "a.qp", 0, &[]));
    let mut sparse = xb_sparse("t1.ibd", 0, &[(0, 3), (4096, 2)], b"abcde");
    // After a sparse chunk the next offset is not added up; any offset is taken.
    sparse.extend(xb_chunk(b'P', "t1.ibd", 9000, b"fgh"));
    sparse.extend(xb_chunk(b'E', "t1.ibd", 0, &[]));
    let mut reopened = xb_chunk(b'P', "a", 0, b"x");
    reopened.extend(xb_chunk(b'E', "a", 0, &[]));
    reopened.extend(xb_chunk(b'P', "a", 0, b"y"));
    reopened.extend(xb_chunk(b'E', "a", 0, &[]));
    let long = "p".repeat(511);
    let mut longest = xb_chunk(b'P', &long, 0, b"x");
    longest.extend(xb_chunk(b'E', &long, 0, &[]));
    let mut empty = xb_chunk(b'P', "empty", 0, b"");
    empty.extend(xb_chunk(b'E', "empty", 0, &[]));
    for (what, bytes) in [
        ("interleaved files", xbstream()),
        ("an ignorable unknown chunk", ignorable),
        ("a sparse chunk", sparse),
        ("a file streamed twice", reopened),
        ("a 511-byte path", longest),
        ("an empty payload", empty),
        ("only an EOF chunk", xb_chunk(b'E', "f", 0, &[])),
    ] {
        assert_eq!(check(Format::Xbstream, &bytes[..]), Ok(()), "{what}");
        // Fed in awkward pieces, streaming gives the same answer.
        for piece in [1, 7, 13, 4096] {
            let mut c = XbstreamCheck::default();
            for p in bytes.chunks(piece) {
                c.update(p).unwrap();
            }
            assert_eq!(c.finish(), Ok(()), "{what} in pieces of {piece}");
        }
    }
}

#[test]
fn broken_xbstream_table() {
    let good = xbstream();
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let two = |a: Vec<u8>, b: Vec<u8>| [a, b].concat();
    let mut bad_crc_empty = xb_chunk(b'P', "e", 0, b"");
    bad_crc_empty[14 + 1 + 16] = 1;
    let mut bad_sparse = xb_sparse("t", 0, &[(0, 1)], b"z");
    let map_at = bad_sparse.len() - 9;
    bad_sparse[map_at] ^= 1;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "no chunks"),
        (
            "cut in a payload",
            good[..150_000].to_vec(),
            "truncated payload",
        ),
        (
            "cut in a header",
            good[..good.len() - 5].to_vec(),
            "truncated chunk header",
        ),
        (
            "no EOF chunk",
            good[..good.len() - (14 + 13)].to_vec(),
            "\"backup-my.cnf\" has no EOF chunk",
        ),
        ("bad magic", with(&|b| b[0] = b'Y'), "bad magic"),
        (
            "flipped payload byte",
            with(&|b| b[5000] ^= 1),
            "payload CRC32",
        ),
        ("unknown type", with(&|b| b[9] = b'Z'), "unknown chunk type"),
        (
            "absurd path length",
            with(&|b| b[10..14].copy_from_slice(&u32::MAX.to_le_bytes())),
            "path length",
        ),
        (
            "a 512-byte path",
            xb_chunk(b'E', &"p".repeat(512), 0, &[]),
            "path length 512",
        ),
        ("an empty path", xb_chunk(b'E', "", 0, &[]), "path length 0"),
        (
            "first chunk not at 0",
            xb_chunk(b'P', "a", 5, b"x"),
            "at file offset 5, expected 0",
        ),
        (
            "out-of-order chunk",
            two(xb_chunk(b'P', "a", 0, b"xy"), xb_chunk(b'P', "a", 1, b"z")),
            "at file offset 1, expected 2",
        ),
        ("an empty payload's CRC32", bad_crc_empty, "payload CRC32"),
        ("a flipped sparse map", bad_sparse, "payload CRC32"),
        (
            "garbage after the last chunk",
            with(&|b| b.extend_from_slice(b"junk")),
            "bad magic",
        ),
    ];
    for (what, bytes, needle) in cases {
        let e = check(Format::Xbstream, &bytes[..]).expect_err(what);
        assert_eq!(e.format, "xbstream", "{what}");
        assert!(e.to_string().contains(needle), "{what}: {e}");
    }
}

#[test]
fn xbstream_cuts_and_flips_everywhere() {
    // Small enough to try every cut and every flipped byte.
    let chunks = [
        xb_chunk(b'P', "a.qp", 0, &[1; 40]),
        xb_chunk(b'P', "a.qp", 40, &[2; 30]),
        xb_chunk(b'E', "a.qp", 0, &[]),
        xb_chunk(b'P', "b.qp", 0, &[3; 20]),
        xb_chunk(b'E', "b.qp", 0, &[]),
    ];
    let starts: Vec<usize> = chunks
        .iter()
        .scan(0, |at, c| {
            let start = *at;
            *at += c.len();
            Some(start)
        })
        .collect();
    let between = starts[3];
    let s = chunks.concat();
    assert_eq!(check(Format::Xbstream, &s[..]), Ok(()));
    for cut in 0..s.len() {
        let r = check(Format::Xbstream, &s[..cut]);
        // Framing cannot tell a stream cut exactly between two files from a shorter one.
        assert_eq!(r.is_ok(), cut == between, "cut at {cut}: {r:?}");
    }
    for at in 0..s.len() {
        let mut flipped = s.clone();
        flipped[at] ^= 0x5a;
        let whole = check(Format::Xbstream, &flipped[..]);
        let mut streaming = XbstreamCheck::default();
        let fed = flipped
            .chunks(3)
            .try_for_each(|p| streaming.update(p))
            .and_then(|()| streaming.finish());
        assert_eq!(whole, fed, "flip at {at}");
        // Only flag bits xbstream does not use (0x5a leaves "ignorable" clear) go unnoticed.
        let flag_byte = starts.iter().any(|s| at == s + 8);
        assert_eq!(whole.is_ok(), flag_byte, "flip at {at}: {whole:?}");
    }
}
