//! A `.bson` file as mongodump writes one collection's documents: BSON documents back to back,
//! nothing between them and nothing after the last, pushed in pieces of any size.
//!
//! Owns each document's framing only: the int32 little-endian length (at least 5, the empty
//! document, at most [`MAX_DOC`]), that the document fits in the file, and its final 0x00.
//! The elements inside are not parsed: a flipped byte inside a document is the content
//! checksum's business one layer down, and mongorestore's on restore.

/// The largest document accepted. mongodump writes documents up to the server's 16 MiB user
/// limit, but the server itself may store documents up to 16 KiB larger
/// (`BSONObjMaxInternalSize`, e.g. oplog entries that wrap a full-size document), and
/// mongorestore reads up to `db.MaxBSONSize + 16*1024`; accept what it accepts.
pub(super) const MAX_DOC: u32 = 16 * 1024 * 1024 + 16 * 1024;
const MIN_DOC: i32 = 5;

/// A problem: the byte offset inside the file, and what is wrong.
pub(super) type Fault = (u64, String);

/// A streaming checker for one `.bson` file whose length is known up front (from its tar
/// header), so a length that overruns the file is caught at the length itself.
pub(super) struct BsonCheck {
    len: u64,
    pos: u64,
    /// The next document's length prefix, as far as read.
    prefix: [u8; 4],
    have: usize,
    /// Bytes of the current document still to come after its length prefix.
    body: u64,
    doc_start: u64,
    docs: u64,
}

impl BsonCheck {
    pub(super) fn new(len: u64) -> Self {
        BsonCheck {
            len,
            pos: 0,
            prefix: [0; 4],
            have: 0,
            body: 0,
            doc_start: 0,
            docs: 0,
        }
    }

    /// A problem with the current document, at byte `at` of the file.
    fn fault(&self, at: u64, reason: impl std::fmt::Display) -> Fault {
        (
            at,
            format!(
                "document {}, {} bytes into the file: {reason}",
                self.docs, self.doc_start
            ),
        )
    }

    /// Feeds the next bytes of the file.
    pub(super) fn update(&mut self, mut data: &[u8]) -> Result<(), Fault> {
        while !data.is_empty() {
            if self.body > 0 {
                let take = self.body.min(data.len() as u64) as usize;
                self.body -= take as u64;
                self.pos += take as u64;
                if self.body == 0 && data[take - 1] != 0 {
                    return Err(self.fault(
                        self.pos - 1,
                        format!(
                            "does not end in a 0x00 byte (ends in {:#04x})",
                            data[take - 1]
                        ),
                    ));
                }
                data = &data[take..];
                continue;
            }
            let take = (4 - self.have).min(data.len());
            self.prefix[self.have..self.have + take].copy_from_slice(&data[..take]);
            self.have += take;
            self.pos += take as u64;
            data = &data[take..];
            if self.have == 4 {
                self.start_doc()?;
            }
        }
        Ok(())
    }

    fn start_doc(&mut self) -> Result<(), Fault> {
        self.have = 0;
        self.doc_start = self.pos - 4;
        self.docs += 1;
        let len = i32::from_le_bytes(self.prefix);
        if len < MIN_DOC {
            return Err(self.fault(
                self.doc_start,
                format!("length {len} is less than {MIN_DOC}"),
            ));
        }
        if len as u32 > MAX_DOC {
            return Err(self.fault(
                self.doc_start,
                format!("length {len} is over the {MAX_DOC}-byte limit (16 MiB + 16 KiB)"),
            ));
        }
        let left = self.len - self.doc_start;
        if u64::from(len as u32) > left {
            return Err(self.fault(
                self.doc_start,
                format!("length {len} runs past the end of the file ({left} bytes left)"),
            ));
        }
        self.body = u64::from(len as u32) - 4;
        Ok(())
    }

    /// The file is complete: it must end exactly where its last document does.
    pub(super) fn finish(&self) -> Result<(), Fault> {
        if self.have > 0 {
            let at = self.pos - self.have as u64;
            return Err((
                at,
                format!(
                    "{} bytes after document {} ({at} bytes into the file): \
                     not a whole document",
                    self.have, self.docs
                ),
            ));
        }
        if self.body > 0 {
            return Err(self.fault(self.pos, format!("truncated ({} bytes missing)", self.body)));
        }
        Ok(())
    }
}
