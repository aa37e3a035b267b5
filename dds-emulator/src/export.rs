//! The archive a finished DBS download task serves: a ustar tar of split BSON files, one folder
//! per collection (`<db>/<coll>/data/<coll>_0_part<N>.bson`, nothing else), compressed as one
//! zstd frame with a content checksum, or, with `UseZstd=false`, as gzip of stored deflate
//! blocks (flate2 is not a dependency of the emulator and a real deflate is not worth one here:
//! the gzip is valid, just not smaller than the tar).
//!
//! Owns the bytes only: a pure function of (instance, backup set, size, compression), so a task
//! always serves the same bytes, and so does a restarted emulator (whose demo backups have moved
//! with the clock: that is why the entries' mtime is fixed, not the backup's time). The documents are real
//! BSON (int32 little-endian length, `_id` int64, `name` string, `qty` int32, `note` string,
//! `blob` binary, the closing 0x00), with words that compress and a binary field that does not,
//! so the export is a few hundred KiB by default. Built whole, once per task when it finishes
//! (`api::dbs`), and kept in memory; this module knows nothing about tasks or HTTP.

use bytes::Bytes;
use ruzstd::encoding::{CompressionLevel, compress_to_vec};

use crate::content::{gzip_stored, mix};

/// `(database, collection, share of the size)` of every export.
const COLLECTIONS: [(&str, &str, u64); 3] = [
    ("orders", "items", 5),
    ("orders", "customers", 3),
    ("app", "events", 2),
];
/// A `.bson` file is split into parts of at most this many bytes.
const PART_MAX: usize = 128 * 1024;
const WORDS: [&str; 16] = [
    "alpha", "bravo", "cargo", "delta", "ember", "forge", "glade", "harbor", "ivory", "jade",
    "kelp", "lumen", "maple", "nectar", "onyx", "prism",
];

/// What an export is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSpec<'a> {
    pub instance: &'a str,
    pub bak_set_id: &'a str,
    /// BSON bytes across all files, about (documents are not cut).
    pub bson_size: u64,
    /// zstd (`.tar.zst`), else gzip (`.tar.gz`).
    pub zstd: bool,
}

/// Every entry's mtime: 2024-01-01T00:00:00Z.
const MTIME: u64 = 1_704_067_200;

/// A built export.
#[derive(Clone, Debug)]
pub struct Export {
    /// The compressed archive, as served.
    pub bytes: Bytes,
    /// Bytes of the tar before compression.
    pub tar_size: u64,
    /// Every entry's path, in archive order.
    pub files: Vec<String>,
}

/// `Progress`'s total: the tables (collections) of every export.
pub fn tables() -> u32 {
    COLLECTIONS.len() as u32
}

/// The file extension of an export.
pub fn extension(zstd: bool) -> &'static str {
    if zstd { "tar.zst" } else { "tar.gz" }
}

/// Builds the archive: CPU bound (a few milliseconds for the default size).
pub fn build(spec: &ExportSpec<'_>) -> Export {
    let seed = seed(spec.instance, spec.bak_set_id);
    let shares: u64 = COLLECTIONS.iter().map(|c| c.2).sum();
    let mut tar = tar::Builder::new(Vec::new());
    let mut files = Vec::new();
    let mut next_id = 1i64;
    for (i, (db, coll, share)) in COLLECTIONS.iter().enumerate() {
        let budget = spec.bson_size * share / shares;
        let parts = collection(mix(seed ^ i as u64), budget, &mut next_id);
        for (n, part) in parts.iter().enumerate() {
            let path = format!("{db}/{coll}/data/{coll}_0_part{n}.bson");
            let mut h = tar::Header::new_ustar();
            h.set_path(&path)
                .expect("invariant: a short relative ASCII path fits a ustar header");
            h.set_size(part.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(MTIME);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            tar.append(&h, part.as_slice())
                .expect("invariant: writing to a Vec cannot fail");
            files.push(path);
        }
    }
    let tar = tar
        .into_inner()
        .expect("invariant: writing to a Vec cannot fail");
    let tar_size = tar.len() as u64;
    let bytes = if spec.zstd {
        compress_to_vec(tar.as_slice(), CompressionLevel::Fastest)
    } else {
        gzip_stored(tar)
    };
    Export {
        bytes: Bytes::from(bytes),
        tar_size,
        files,
    }
}

fn seed(instance: &str, bak_set_id: &str) -> u64 {
    // FNV-1a, stable across runs and platforms (unlike `Hash`), then mixed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [instance.as_bytes(), b"\0", bak_set_id.as_bytes(), b"\0dbs"];
    for b in parts.iter().flat_map(|p| p.iter()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// One collection's documents, about `budget` bytes (at least one document), in parts of at
/// most [`PART_MAX`] bytes.
fn collection(seed: u64, budget: u64, next_id: &mut i64) -> Vec<Vec<u8>> {
    let mut parts = vec![Vec::new()];
    let mut total = 0u64;
    while total == 0 || total < budget {
        let doc = document(seed, *next_id);
        *next_id += 1;
        total += doc.len() as u64;
        let last = parts.len() - 1;
        if !parts[last].is_empty() && parts[last].len() + doc.len() > PART_MAX {
            parts.push(Vec::new());
        }
        let last = parts.len() - 1;
        parts[last].extend_from_slice(&doc);
    }
    parts
}

/// Document `id`: `{_id: int64, name: string, qty: int32, note: string, blob: binary}`.
fn document(seed: u64, id: i64) -> Vec<u8> {
    let r = mix(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut e = Vec::with_capacity(320);
    element(&mut e, 0x12, "_id", &id.to_le_bytes());
    string(&mut e, "name", &format!("item-{id:08}"));
    element(&mut e, 0x10, "qty", &((r % 1000) as i32).to_le_bytes());
    let words = 4 + (r >> 12) % 24;
    let note: Vec<&str> = (0..words)
        .map(|k| WORDS[(mix(r ^ k) % WORDS.len() as u64) as usize])
        .collect();
    string(&mut e, "note", &note.join(" "));
    let blob_len = 32 + (r >> 24) % 160;
    let mut blob = (blob_len as i32).to_le_bytes().to_vec();
    blob.push(0); // subtype: generic binary
    blob.extend((0..blob_len.div_ceil(8)).flat_map(|k| mix(r.wrapping_add(k)).to_le_bytes()));
    blob.truncate(5 + blob_len as usize);
    element(&mut e, 0x05, "blob", &blob);
    let total = (4 + e.len() + 1) as i32;
    let mut doc = total.to_le_bytes().to_vec();
    doc.extend_from_slice(&e);
    doc.push(0);
    doc
}

/// Type byte, name as a C string, value.
fn element(out: &mut Vec<u8>, kind: u8, name: &str, value: &[u8]) {
    out.push(kind);
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.extend_from_slice(value);
}

/// A UTF-8 string element: int32 length (with the NUL), bytes, NUL.
fn string(out: &mut Vec<u8>, name: &str, value: &str) {
    let mut v = ((value.len() + 1) as i32).to_le_bytes().to_vec();
    v.extend_from_slice(value.as_bytes());
    v.push(0);
    element(out, 0x02, name, &v);
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn spec(zstd: bool) -> ExportSpec<'static> {
        ExportSpec {
            instance: "dds-demo-disk",
            bak_set_id: "32105001",
            bson_size: 300_000,
            zstd,
        }
    }

    /// Every entry of the tar: (path, bytes).
    fn entries(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                assert_eq!(e.header().entry_type(), tar::EntryType::Regular);
                assert_eq!(e.header().as_ustar().map(|_| ()), Some(()), "ustar");
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    /// The documents' lengths tile the file exactly; each ends with 0x00. Returns the count.
    fn tile(data: &[u8]) -> usize {
        let (mut at, mut docs) = (0, 0);
        while at < data.len() {
            let len = i32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            assert!(
                len >= 5 && at + len <= data.len(),
                "document at {at}: {len}"
            );
            assert_eq!(data[at + len - 1], 0, "document at {at} ends with 0x00");
            assert_eq!(data[at + 4], 0x12, "first element: _id int64");
            at += len;
            docs += 1;
        }
        assert_eq!(at, data.len());
        docs
    }

    #[test]
    fn the_export_is_a_tar_zst_of_bson_files_that_tile_exactly() {
        let built = build(&spec(true));
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(&built.bytes[..]).unwrap();
        let mut tar = Vec::new();
        decoder.read_to_end(&mut tar).unwrap();
        let frame = decoder.into_frame_decoder();
        assert!(
            frame.get_checksum_from_data().is_some(),
            "a content checksum"
        );
        assert_eq!(
            frame.get_checksum_from_data(),
            frame.get_calculated_checksum()
        );
        assert_eq!(tar.len() as u64, built.tar_size);
        let entries = entries(&tar);
        let paths: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, built.files);
        assert!(
            paths.contains(&"orders/items/data/items_0_part1.bson"),
            "{paths:?}"
        );
        assert!(paths.contains(&"app/events/data/events_0_part0.bson"));
        let mut bson = 0;
        for (path, data) in &entries {
            assert!(path.ends_with(".bson") && data.len() <= PART_MAX, "{path}");
            assert!(tile(data) > 0, "{path}");
            bson += data.len();
        }
        assert!((300_000..300_000 + 3 * 400).contains(&bson), "{bson}");
        let size = built.bytes.len();
        assert!(
            (100_000..400_000).contains(&size),
            "a few hundred KiB: {size}"
        );
        assert_eq!(tables(), 3);
    }

    #[test]
    fn exports_are_deterministic_and_differ_per_backup() {
        let a = build(&spec(true));
        assert_eq!(a.bytes, build(&spec(true)).bytes);
        let other = ExportSpec {
            bak_set_id: "32105002",
            ..spec(true)
        };
        assert_ne!(a.bytes, build(&other).bytes);
    }

    #[test]
    fn without_zstd_the_same_tar_comes_gzipped() {
        let gz = build(&spec(false));
        assert_eq!(&gz.bytes[..3], &[0x1f, 0x8b, 8]);
        let zst = build(&spec(true));
        assert_eq!(gz.tar_size, zst.tar_size);
        assert_eq!(gz.files, zst.files);
        assert_eq!((extension(true), extension(false)), ("tar.zst", "tar.gz"));
    }
}
