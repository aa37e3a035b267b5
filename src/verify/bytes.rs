//! The check of one copy's bytes against its manifest, from one read of any reader: a local
//! file (`--verify`) or an archived object streamed from the store (`--verify --archive`).

use std::io::Read;

use sha2::{Digest, Sha256};

use super::verdict::{self, Verdict};
use super::{CopyCheck, Problem, format};
use crate::model::Manifest;
use crate::throttle::Throttle;

/// Size, sha256 and format of the `len` bytes `reader` yields, and the verdict for their
/// manifest. A format finding on bytes that differ from the manifest is rot
/// ([`Problem::Format`]); on the bytes the manifest vouches for it is the cloud's: `damaged` (a
/// problem) or `unrecognised` (a note). Reads no faster than `throttle` allows.
pub fn check_bytes(
    manifest: &Manifest,
    len: u64,
    reader: impl Read,
    throttle: &Throttle,
) -> CopyCheck {
    let only = |p| CopyCheck {
        problems: vec![p],
        verdict: None,
    };
    let mut problems = Vec::new();
    if len != manifest.size {
        problems.push(Problem::Size {
            expected: manifest.size,
            got: len,
        });
    }
    let mut tee = Tee {
        inner: reader,
        sha: Sha256::new(),
        throttle,
        head: Vec::with_capacity(verdict::HEAD),
        read: 0,
    };
    let format = format::Format::for_name(&manifest.file);
    let outcome = format::check_format(&manifest.file, &mut tee)
        .map(drop)
        .map_err(|e| e.to_string());
    // Whatever the format check did not read still counts for the hash.
    if let Err(e) = std::io::copy(&mut tee, &mut std::io::sink()) {
        return only(Problem::Unreadable(e.to_string()));
    }
    if tee.read != len && problems.is_empty() {
        // The reader ended early or ran on (a stream cut short, a file that grew).
        problems.push(Problem::Size {
            expected: manifest.size,
            got: tee.read,
        });
    }
    let got = crate::hex::hex(&tee.sha.finalize());
    let rotted = !problems.is_empty() || got != manifest.sha256;
    if rotted {
        if let Err(reason) = outcome {
            problems.push(Problem::Format(reason));
        }
        if got != manifest.sha256 {
            problems.push(Problem::Sha256 {
                expected: manifest.sha256.clone(),
                got,
            });
        }
        return CopyCheck {
            problems,
            verdict: None,
        };
    }
    let v = verdict::classify(format, &tee.head, outcome);
    let detail = v.detail.clone().unwrap_or_default();
    match v.verdict {
        Verdict::Damaged => problems.push(Problem::Damaged(detail)),
        Verdict::Unrecognised => problems.push(Problem::Unrecognised(detail)),
        Verdict::Ok | Verdict::NotChecked => {}
    }
    CopyCheck {
        problems,
        verdict: Some(v),
    }
}

/// Hashes every byte read through it, keeps the first [`verdict::HEAD`] bytes for the verdict,
/// and holds the reads to the scrub's bandwidth limit (`verify.bandwidth_limit`): this runs on
/// a blocking thread, so it waits by sleeping.
struct Tee<'t, R> {
    inner: R,
    sha: Sha256,
    throttle: &'t Throttle,
    head: Vec<u8>,
    read: u64,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.throttle.take_blocking(n as u64);
        self.sha.update(&buf[..n]);
        let room = verdict::HEAD - self.head.len();
        self.head.extend_from_slice(&buf[..n.min(room)]);
        self.read += n as u64;
        Ok(n)
    }
}
