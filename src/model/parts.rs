//! Which parts of a file fetched by several ranged streams are in the partial file, as a value
//! the resume sidecar carries across runs: the part size and, per part, its CRC-64 once every
//! byte of it is written. The CRC-64 of the whole file is the per-part CRCs combined in offset
//! order (as the OSS SDKs do), compared with `x-oss-hash-crc64ecma`. Pure.

use serde::{Deserialize, Serialize};

const CRC: crc_fast::CrcAlgorithm = crc_fast::CrcAlgorithm::Crc64Xz;

/// The parts of a file of `size` bytes cut every `part_size` bytes (the last one shorter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMap {
    pub part_size: u64,
    /// One entry per part: its CRC-64/XZ once it is complete, `None` while it is missing.
    pub done: Vec<Option<u64>>,
}

/// A file is cut into at most this many parts: the map (and the sidecar carrying it) stays
/// small whatever the size, as S3 caps a multipart upload at 10,000 parts.
pub const MAX_PARTS: u64 = 10_000;

/// The part size for a file of `size` bytes: `part_size`, or larger where that would make
/// more than [`MAX_PARTS`] parts.
pub fn part_size_for(size: u64, part_size: u64) -> u64 {
    part_size.max(1).max(size.div_ceil(MAX_PARTS))
}

impl PartMap {
    /// The map of a file of `size` bytes cut every `part_size` bytes (see [`part_size_for`]).
    pub fn new(size: u64, part_size: u64) -> PartMap {
        let part_size = part_size_for(size, part_size);
        PartMap {
            part_size,
            done: vec![None; size.div_ceil(part_size) as usize],
        }
    }

    /// Whether this map describes a file of `size` cut every `part_size` bytes.
    pub fn fits(&self, size: u64, part_size: u64) -> bool {
        let part_size = part_size_for(size, part_size);
        self.part_size == part_size && self.done.len() as u64 == size.div_ceil(part_size)
    }

    /// The byte range of part `i`, `start..end`.
    pub fn range(&self, i: usize, size: u64) -> std::ops::Range<u64> {
        let start = i as u64 * self.part_size;
        start..(start + self.part_size).min(size)
    }

    pub fn mark(&mut self, i: usize, crc: u64) {
        self.done[i] = Some(crc);
    }

    /// The parts still to fetch, in offset order.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.done.len())
            .filter(|i| self.done[*i].is_none())
            .collect()
    }

    pub fn is_complete(&self) -> bool {
        self.done.iter().all(Option::is_some)
    }

    /// The bytes from offset 0 that are all in the file.
    pub fn prefix(&self, size: u64) -> u64 {
        let whole = self.done.iter().take_while(|d| d.is_some()).count();
        (whole as u64 * self.part_size).min(size)
    }

    /// Bytes in complete parts.
    pub fn done_bytes(&self, size: u64) -> u64 {
        (0..self.done.len())
            .filter(|i| self.done[*i].is_some())
            .map(|i| self.range(i, size).end - self.range(i, size).start)
            .sum()
    }

    /// The CRC-64/XZ of the whole file, from the parts' in offset order; `None` until every
    /// part is complete.
    pub fn combined(&self, size: u64) -> Option<u64> {
        let mut crc: Option<u64> = None;
        for (i, part) in self.done.iter().enumerate() {
            let part = (*part)?;
            let len = self.range(i, size).end - self.range(i, size).start;
            crc = Some(match crc {
                None => part,
                Some(before) => crc_fast::checksum_combine(CRC, before, part, len),
            });
        }
        Some(crc.unwrap_or_else(|| crc_fast::checksum(CRC, b"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_and_combine_to_its_crc() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let size = data.len() as u64;
        let mut map = PartMap::new(size, 4096);
        assert_eq!(map.done.len(), 3);
        assert_eq!(map.range(2, size), 8192..10_000);
        assert_eq!((map.prefix(size), map.combined(size)), (0, None));
        // Out of order, as streams finish.
        for i in [2, 0, 1] {
            let r = map.range(i, size);
            map.mark(
                i,
                crc_fast::checksum(CRC, &data[r.start as usize..r.end as usize]),
            );
            if i == 0 {
                assert_eq!(map.prefix(size), 4096);
                assert_eq!(map.missing(), vec![1]);
                assert_eq!(map.done_bytes(size), 4096 + 1808);
            }
        }
        assert!(map.is_complete());
        assert_eq!(map.prefix(size), size);
        assert_eq!(map.combined(size), Some(crc_fast::checksum(CRC, &data)));
        assert!(map.fits(size, 4096) && !map.fits(size, 8192) && !map.fits(size + 5000, 4096));
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(serde_json::from_str::<PartMap>(&json).unwrap(), map);
    }

    #[test]
    fn a_map_stays_small_whatever_the_size() {
        // Issue #21.7: one entry per part of a 10^18-byte "backup" aborted the process.
        let huge = PartMap::new(1_000_000_000_000_000_000, 64 << 10);
        assert!(huge.done.len() as u64 <= MAX_PARTS);
        assert!(huge.fits(1_000_000_000_000_000_000, 64 << 10));
        let small = PartMap::new(64 << 20, 64 << 10);
        assert_eq!((small.part_size, small.done.len()), (64 << 10, 1024));
    }
}
