//! The tar.zst check against real archives: built here with the `tar` crate and ruzstd's
//! encoder, holding BSON documents built by hand, then broken one way at a time.

use ::tar::{EntryType, Header};
use ruzstd::encoding::{CompressionLevel, compress_to_vec};

use super::*;

/// A BSON document `{_id: i, s: text}`.
fn doc(i: i32, text: &str) -> Vec<u8> {
    let mut e = vec![0x10];
    e.extend_from_slice(b"_id\0");
    e.extend_from_slice(&i.to_le_bytes());
    e.push(0x02);
    e.extend_from_slice(b"s\0");
    e.extend_from_slice(&(text.len() as i32 + 1).to_le_bytes());
    e.extend_from_slice(text.as_bytes());
    e.push(0);
    let mut d = (e.len() as i32 + 5).to_le_bytes().to_vec();
    d.extend_from_slice(&e);
    d.push(0);
    d
}

fn bson_file(docs: i32) -> Vec<u8> {
    (0..docs)
        .flat_map(|i| doc(i, &"abcdefghij".repeat((i % 7) as usize)))
        .collect()
}

/// Over 100 bytes, so a GNU long-name entry or a pax `path` carries it; the `.bson` is past
/// byte 100, so only the real name says it is BSON.
fn long_name(tag: &str) -> String {
    format!("db/{}/data/{tag}_0_part0.bson", "c".repeat(100))
}

fn pax(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut n = body.len() + 1;
        while n.to_string().len() + body.len() != n {
            n += 1;
        }
        out.extend_from_slice(format!("{n}{body}").as_bytes());
    }
    out
}

fn file_header(mut h: Header, len: usize) -> Header {
    h.set_size(len as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(EntryType::Regular);
    h
}

/// A tar whose entries are named by a GNU header, a GNU long name, a pax `path`, or a ustar
/// name and prefix.
enum Name<'a> {
    Gnu(&'a str),
    Pax(&'a str),
    Ustar(&'a str),
}

fn tar_of(entries: &[(Name<'_>, &[u8])]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (name, data) in entries {
        match name {
            Name::Gnu(n) => {
                let mut h = file_header(Header::new_gnu(), data.len());
                b.append_data(&mut h, n, *data).unwrap();
            }
            Name::Ustar(n) => {
                let mut h = file_header(Header::new_ustar(), data.len());
                b.append_data(&mut h, n, *data).unwrap();
            }
            Name::Pax(n) => {
                let records = pax(&[("path", n), ("mtime", "1700000000.5")]);
                let mut x = Header::new_ustar();
                x.set_entry_type(EntryType::XHeader);
                x.set_size(records.len() as u64);
                x.set_path("PaxHeaders/placeholder").unwrap();
                x.set_cksum();
                b.append(&x, &records[..]).unwrap();
                let mut h = file_header(Header::new_ustar(), data.len());
                b.append_data(&mut h, "placeholder", *data).unwrap();
            }
        }
    }
    let mut dir = Header::new_gnu();
    dir.set_entry_type(EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    b.append_data(&mut dir, "db/", &[][..]).unwrap();
    b.into_inner().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    compress_to_vec(data, CompressionLevel::Fastest)
}

fn skippable(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x5a, 0x2a, 0x4d, 0x18];
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The valid tar: a big split BSON file (several zstd blocks), long names of both kinds, a
/// ustar prefix, an empty collection, a non-BSON file and a directory.
fn sample_tar() -> Vec<u8> {
    // Big enough for frames of several blocks (ruzstd's encoder makes 128 KiB blocks).
    let big = bson_file(9000);
    let small = bson_file(20);
    let prefixed = format!("{}/coll_0_part1.bson", "p".repeat(120));
    tar_of(&[
        (Name::Gnu("db/coll/data/coll_0_part0.bson"), &big),
        (Name::Gnu(&long_name("gnu")), &small),
        (Name::Pax(&long_name("pax")), &small),
        (Name::Ustar(&prefixed), &small),
        (Name::Gnu("db/empty/data/empty_0_part0.bson"), &[]),
        (Name::Gnu("db/coll/metadata.json"), br#"{"indexes":[]}"#),
    ])
}

/// The sample as an export: a skippable frame first, two zstd frames split inside an entry's
/// data, an empty skippable frame between them. Also returns where the first zstd frame ends.
fn sample() -> (Vec<u8>, Vec<u8>, usize) {
    let tar = sample_tar();
    let split = tar.len() / 2 + 123;
    let mut file = skippable(b"pzstd-like size hint");
    file.extend(zst(&tar[..split]));
    let boundary = file.len();
    file.extend(skippable(b""));
    file.extend(zst(&tar[split..]));
    (tar, file, boundary)
}

/// Feeds `bytes` in pieces of `piece` bytes.
fn run(bytes: &[u8], piece: usize) -> Result<(), FormatError> {
    let mut c = TarZstdCheck::default();
    for p in bytes.chunks(piece) {
        c.update(p)?;
    }
    c.finish()
}

/// The verdict on `bytes`, which must be the same whatever the pieces.
fn verdict(bytes: &[u8]) -> Result<(), FormatError> {
    let whole = check(Format::TarZstd, bytes);
    for piece in [1, 7, 64 * 1024] {
        assert_eq!(run(bytes, piece), whole, "fed in {piece}-byte pieces");
    }
    whole
}

fn err(bytes: &[u8]) -> FormatError {
    verdict(bytes).expect_err("must be rejected")
}

#[test]
fn names_pick_tar_zstd() {
    for (name, f) in [
        ("bk-123.tar.zst", Some(Format::TarZstd)),
        ("BK.TZST", Some(Format::TarZstd)),
        ("bk.tar.gz", Some(Format::Gzip)),
        ("bk.zst", None),
    ] {
        assert_eq!(Format::for_name(name), f, "{name}");
    }
    let (_, file, _) = sample();
    assert_eq!(
        check_format("bk-123.tar.zst", &file[..]),
        Ok(FormatOutcome::Valid(Format::TarZstd))
    );
}

#[test]
fn a_valid_export_passes_in_any_pieces() {
    let (tar, file, _) = sample();
    assert_eq!(verdict(&file), Ok(()));
    // One frame, no skippable frames, and the tar padded to a 10 KiB record as GNU tar does.
    let mut padded = tar.clone();
    padded.resize(tar.len().div_ceil(10240) * 10240, 0);
    assert_eq!(verdict(&zst(&padded)), Ok(()));
}

#[test]
fn old_and_gnu_header_variants_pass() {
    let mut tar = tar_of(&[(Name::Gnu("db/c/data/c_0_part0.bson"), &bson_file(3))]);
    let h = &mut tar[..512];
    // GNU base-256 for the size, then the signed checksum an old tar would write (a byte over
    // 0x7f in the name makes the two sums differ).
    let size = u64::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
    h[124..136].fill(0);
    h[124] = 0x80;
    h[128..136].copy_from_slice(&size.to_be_bytes());
    h[60] = 0xe9;
    h[148..156].fill(b' ');
    let signed: i64 = h.iter().map(|b| i64::from(*b as i8)).sum();
    h[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
    assert_eq!(verdict(&zst(&tar)), Ok(()));
}

#[test]
fn real_names_come_from_extended_headers() {
    let mut bad = bson_file(2);
    *bad.last_mut().unwrap() = 1;
    for name in [Name::Gnu(&long_name("gnu")), Name::Pax(&long_name("pax"))] {
        let e = err(&zst(&tar_of(&[(name, &bad)])));
        assert_eq!(e.format, "tar");
        assert!(e.reason.contains(&long_name("")[..20]), "{e}");
        assert!(e.reason.contains("_0_part0.bson"), "{e}");
    }
    // Names are shown as data: a newline in one cannot start a forged log line.
    let e = err(&zst(&tar_of(&[(Name::Gnu("evil\nINFO ok.bson"), &bad)])));
    assert!(e.to_string().contains("evil\\nINFO ok.bson"), "{e}");
}

#[test]
fn truncated_exports_are_caught_at_every_cut() {
    let (_, file, boundary) = sample();
    let mut cuts: Vec<usize> = (0..file.len()).step_by(997).collect();
    cuts.extend([
        1,
        3,
        4,
        9,
        30,
        boundary - 1,
        boundary,
        boundary + 4,
        file.len() - 1,
    ]);
    cuts.extend([file.len() - 4, file.len() - 5]);
    for cut in cuts {
        let e = err(&file[..cut]);
        // Cut between frames, the zstd layer is whole and the archive is what is short.
        let layer = if cut == boundary { "tar" } else { "tar.zst" };
        assert_eq!(e.format, layer, "cut at {cut}: {e}");
        assert!(
            e.reason.contains("truncated") || e.reason.contains("empty"),
            "cut at {cut}: {e}"
        );
    }
}

#[test]
fn broken_zstd_table() {
    let (_, file, boundary) = sample();
    let flip = |at: usize| {
        let mut f = file.clone();
        f[at] ^= 0x20;
        f
    };
    let appended = |tail: &[u8]| [&file[..], tail].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("compressed byte", flip(boundary / 2), "frame 2"),
        (
            "content checksum",
            flip(file.len() - 2),
            "checksum mismatch",
        ),
        (
            "first frame's checksum",
            flip(boundary - 1),
            "checksum mismatch",
        ),
        (
            "garbage after",
            appended(b"garbage!"),
            "garbage after frame 4",
        ),
        ("zeros after", appended(&[0; 2]), "garbage after frame 4"),
        ("half a magic after", appended(&[0x28, 0xb5]), "truncated"),
        (
            "magic only after",
            appended(&[0x28, 0xb5, 0x2f, 0xfd]),
            "truncated",
        ),
        ("not zstd", b"\x1f\x8b\x08\0rest".to_vec(), "not zstd"),
        ("empty", Vec::new(), "empty file"),
    ];
    for (what, bytes, want) in cases {
        let e = err(&bytes);
        assert_eq!(e.format, "tar.zst", "{what}: {e}");
        assert!(e.to_string().contains(want), "{what}: {e}");
    }
    // A flipped checksum is reported at the checksum's own byte.
    assert_eq!(err(&flip(file.len() - 2)).offset, file.len() as u64 - 4);
}

#[test]
fn broken_tar_table() {
    let tar = tar_of(&[(Name::Gnu("db/c/data/c_0_part0.bson"), &bson_file(5))]);
    let mut bad_sum = tar.clone();
    bad_sum[136] ^= 1; // mtime
    let mut trailing = tar.clone();
    trailing.extend_from_slice(&[0; 100]);
    trailing.push(7);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad header checksum", bad_sum, "checksum mismatch"),
        (
            "no end marker",
            tar[..tar.len() - 1024].to_vec(),
            "no end-of-archive",
        ),
        (
            "one zero block",
            tar[..tar.len() - 512].to_vec(),
            "one zero block",
        ),
        ("data cut", tar[..600].to_vec(), "truncated"),
        ("header cut", tar[..100].to_vec(), "inside a header"),
        ("after the end", trailing, "non-zero byte after"),
        ("nothing", Vec::new(), "empty archive"),
    ];
    for (what, bytes, want) in cases {
        let e = err(&zst(&bytes));
        assert_eq!(e.format, "tar", "{what}: {e}");
        assert!(e.reason.contains(want), "{what}: {e}");
    }
    // Every byte of a header counts in its checksum.
    for at in 0..512 {
        let mut t = tar.clone();
        t[at] ^= 0x01;
        assert!(check(Format::TarZstd, &zst(&t)[..]).is_err(), "byte {at}");
    }
}

#[test]
fn broken_bson_table() {
    let good = bson_file(3);
    let first = doc(0, "");
    let mut overrun = good.clone();
    let last_start = good.len() - doc(2, "abcdefghij".repeat(2).as_str()).len();
    overrun[last_start] += 10;
    let mut no_zero = good.clone();
    *no_zero.last_mut().unwrap() = 0x42;
    let short = [&first[..], &4i32.to_le_bytes()].concat();
    let huge = [&first[..], &(17i32 << 20).to_le_bytes(), &[0; 8]].concat();
    let negative = [&(-1i32).to_le_bytes()[..], &[0; 8]].concat();
    let cases: Vec<(&str, Vec<u8>, &str, usize)> = vec![
        ("overrun", overrun, "runs past the end", last_start),
        ("no 0x00", no_zero, "does not end in a 0x00", good.len() - 1),
        ("length 4", short, "less than 5", first.len()),
        ("too long", huge, "over the", first.len()),
        ("negative", negative, "less than 5", 0),
        (
            "2 trailing",
            [&good[..], &[0, 0]].concat(),
            "2 bytes after",
            good.len(),
        ),
        (
            "6 trailing",
            [&good[..], &[9, 0, 0, 0, 0, 0]].concat(),
            "runs past",
            good.len(),
        ),
    ];
    for (what, data, want, at) in cases {
        let e = err(&zst(&tar_of(&[(
            Name::Gnu("db/c/data/c_0_part0.bson"),
            &data,
        )])));
        assert_eq!(e.format, "tar", "{what}: {e}");
        assert!(
            e.reason.contains("entry \"db/c/data/c_0_part0.bson\""),
            "{what}: {e}"
        );
        assert!(e.reason.contains(want), "{what}: {e}");
        // The offset is in the archive: the entry's data starts after its 512-byte header.
        assert_eq!(e.offset, 512 + at as u64, "{what}: {e}");
    }
    // The same bytes under another name are not BSON's business.
    let e = tar_of(&[(Name::Gnu("db/c/notes.txt"), &[1, 2, 3])]);
    assert_eq!(verdict(&zst(&e)), Ok(()));
}

#[test]
fn random_flips_are_caught_or_harmless() {
    let (tar, file, _) = sample();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut caught = 0;
    let tries = 200;
    for _ in 0..tries {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = (seed % file.len() as u64) as usize;
        let mask = ((seed >> 32) as u8).max(1);
        let mut f = file.clone();
        f[at] ^= mask;
        match check(Format::TarZstd, &f[..]) {
            Err(_) => caught += 1,
            // Passing is only right if the flip changed nothing that is decoded (a skippable
            // frame's content, an unused header bit, a larger window).
            Ok(()) => {
                let mut out = vec![0; tar.len() + 1024];
                let n = ruzstd::decoding::FrameDecoder::new()
                    .decode_all(&f, &mut out)
                    .unwrap_or_else(|e| panic!("flip {mask:#x} at {at} passed: {e}"));
                assert_eq!(&out[..n], &tar[..], "flip {mask:#x} at {at} passed");
            }
        }
    }
    assert!(caught * 10 >= tries * 9, "only {caught} of {tries} caught");
}

/// A block header: last flag, type (0 raw, 1 RLE, 2 compressed, 3 reserved), size.
fn block(last: bool, kind: u8, size: usize, content: &[u8]) -> Vec<u8> {
    let v = (size << 3) | (usize::from(kind) << 1) | usize::from(last);
    [&v.to_le_bytes()[..3], content].concat()
}

/// A frame built by hand from raw blocks of 1000 bytes and an RLE block of `zeros` zero
/// bytes: a single-segment header with a 4-byte content size (what ruzstd's encoder never
/// writes) and no checksum.
fn hand_frame(content: &[u8], zeros: usize, fhd_extra: u8, size: u64) -> Vec<u8> {
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0xa0 | fhd_extra];
    f.extend_from_slice(&(size as u32).to_le_bytes());
    for piece in content.chunks(1000) {
        f.extend(block(false, 0, piece.len(), piece));
    }
    f.extend(block(true, 1, zeros, &[0]));
    f
}

#[test]
fn hand_made_frames_table() {
    let tar = tar_of(&[(Name::Gnu("db/c/data/c_0_part0.bson"), &bson_file(40))]);
    let body = &tar[..tar.len() - 1024];
    let len = tar.len() as u64;
    assert_eq!(verdict(&hand_frame(body, 1024, 0, len)), Ok(()));
    let with_block = |b: Vec<u8>| {
        let mut f = hand_frame(body, 1024, 0, len);
        f.splice(9..9, b);
        f
    };
    let mut big_window = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 17 << 3];
    big_window.extend(block(true, 0, 0, &[]));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "content size",
            hand_frame(body, 1024, 0, len + 1),
            "the header says",
        ),
        (
            "reserved bit",
            hand_frame(body, 1024, 0x08, len),
            "reserved bit",
        ),
        (
            "reserved block",
            with_block(block(false, 3, 0, &[])),
            "reserved block type",
        ),
        (
            "huge block",
            with_block(block(false, 0, 200_000, &[])),
            "128 KiB",
        ),
        ("window", big_window, "window size 134217728"),
    ];
    for (what, bytes, want) in cases {
        let e = err(&bytes);
        assert_eq!(e.format, "tar.zst", "{what}: {e}");
        assert!(e.reason.contains(want), "{what}: {e}");
        assert!(e.reason.starts_with("frame 1: "), "{what}: {e}");
    }
}
