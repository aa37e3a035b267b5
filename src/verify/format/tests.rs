use std::io::Write;

use super::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xb_chunk(kind: u8, path: &str, payload: &[u8]) -> Vec<u8> {
    let mut c = MAGIC.to_vec();
    c.push(0);
    c.push(kind);
    c.extend_from_slice(&(path.len() as u32).to_le_bytes());
    c.extend_from_slice(path.as_bytes());
    if kind == b'P' {
        c.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        c.extend_from_slice(&0u64.to_le_bytes());
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, payload) as u32;
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(payload);
    }
    c
}

fn xbstream() -> Vec<u8> {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let mut s = xb_chunk(b'P', "ibdata1.qp", &data[..200_000]);
    s.extend(xb_chunk(b'P', "ibdata1.qp", &data[200_000..]));
    s.extend(xb_chunk(b'E', "ibdata1.qp", &[]));
    s.extend(xb_chunk(b'E', "backup-my.cnf", &[]));
    s
}

#[test]
fn names_pick_formats() {
    for (name, f) in [
        ("a.tar.gz", Some(Format::Gzip)),
        ("a.TGZ", Some(Format::Gzip)),
        ("dump.ar", Some(Format::Gzip)),
        ("hins_data_qp.xb", Some(Format::Xbstream)),
        ("a.bin", None),
    ] {
        assert_eq!(Format::for_name(name), f, "{name}");
    }
}

#[test]
fn gzip_table() {
    let data: Vec<u8> = (0..500_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let good = gzip(&data);
    let mut two = good.clone();
    two.extend(gzip(b"second member"));
    assert_eq!(check(Format::Gzip, &good[..]), Ok(()));
    assert_eq!(check(Format::Gzip, &two[..]), Ok(()), "multi-member");
    let mut bad = Vec::new();
    for cut in [0, 1, 10, good.len() / 2, good.len() - 5, good.len() - 1] {
        bad.push((format!("truncated at {cut}"), good[..cut].to_vec()));
    }
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    bad.push(("flipped deflate byte".into(), flipped));
    let mut crc = good.clone();
    let n = crc.len();
    crc[n - 8] ^= 1;
    bad.push(("bad CRC32 trailer".into(), crc));
    let mut isize = good.clone();
    isize[n - 1] ^= 1;
    bad.push(("bad ISIZE".into(), isize));
    let mut garbage = good.clone();
    garbage.extend_from_slice(b"garbage after the last member");
    bad.push(("trailing garbage".into(), garbage));
    bad.push(("not gzip".into(), b"PK\x03\x04 zip file".to_vec()));
    for (what, bytes) in bad {
        let e = check(Format::Gzip, &bytes[..]).expect_err(&what);
        assert_eq!(e.format, "gzip", "{what}");
        assert!(e.to_string().starts_with("gzip at byte "), "{what}: {e}");
    }
}

#[test]
fn xbstream_table() {
    let good = xbstream();
    assert_eq!(check(Format::Xbstream, &good[..]), Ok(()));
    // Fed in awkward pieces, streaming gives the same answer.
    for piece in [1, 7, 13, 4096] {
        let mut c = XbstreamCheck::default();
        for p in good.chunks(piece) {
            c.update(p).unwrap();
        }
        assert_eq!(c.finish(), Ok(()), "pieces of {piece}");
    }
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    cases.push(("empty", Vec::new(), "no chunks"));
    cases.push((
        "cut in a payload",
        good[..150_000].to_vec(),
        "truncated payload",
    ));
    cases.push((
        "cut in a header",
        good[..good.len() - 5].to_vec(),
        "truncated chunk header",
    ));
    let mut magic = good.clone();
    magic[0] = b'Y';
    cases.push(("bad magic", magic, "bad magic"));
    let mut payload = good.clone();
    payload[5000] ^= 1;
    cases.push(("flipped payload byte", payload, "payload CRC32"));
    let mut kind = good.clone();
    kind[9] = b'Z';
    cases.push(("unknown type", kind, "unknown chunk type"));
    let mut path = good.clone();
    path[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(("absurd path length", path, "path length"));
    for (what, bytes, needle) in cases {
        let e = check(Format::Xbstream, &bytes[..]).expect_err(what);
        assert!(e.to_string().contains(needle), "{what}: {e}");
    }
}
