//! Database export files: a graph's records in one self-checking file
//! (`proto-specs/graph.md` §12).
//!
//! The counterpart of `PeerGraphExportDatabase` / `PeerGraphImportDatabase`: back up a
//! replica, or seed a new one without a full synchronisation. An export is a list of
//! records — live ones and tombstones alike, each in its canonical encoding (§2.2), in the
//! order the exporter chose — under a header that names the graph, closed by a checksum.
//!
//! # Layout (version 1)
//!
//! Every integer is big-endian.
//!
//! ```text
//! export   = magic ‖ version ‖ graph ‖ count ‖ count × entry ‖ checksum
//! magic    = "PGGRAPHX"                           8 bytes
//! version  = u8 = 1                               1 byte
//! graph    = u16 length ‖ graph id as UTF-8       2 + 1..=1024 bytes
//! count    = u64 number of entries                8 bytes
//! entry    = u32 length ‖ record                  4 + length bytes (graph.md §2.2)
//! checksum = SHA-256(every preceding byte)        32 bytes
//! ```
//!
//! The checksum is unkeyed: it catches accidental damage (a truncated copy, a flipped
//! bit), not tampering. Records carry their own security data; an importer checks it as it
//! would for records from the network, and applies the records through
//! [`RecordStore::apply`](crate::store::RecordStore::apply), which enforces the update
//! rules and the conflict order.
//!
//! # Checks on import, in file order, each with its own error
//!
//! 1. the magic ([`GraphError::ExportNotAnExport`]);
//! 2. the version ([`GraphError::UnsupportedExportVersion`]);
//! 3. the graph id: its length (at most 1,024 bytes) before it is read, then UTF-8 and the
//!    rules of §1 ([`GraphError::InvalidGraphId`]), then that it is the graph the caller
//!    imports into ([`GraphError::ExportWrongGraph`]);
//! 4. for each entry: the length against the graph's maximum record size, before the
//!    record is read ([`GraphError::MaxRecordSizeExceeded`]), then the record itself, as
//!    [`Record::decode`] checks it (its decode error, e.g.
//!    [`GraphError::NonCanonicalRecord`]);
//! 5. the checksum ([`GraphError::ExportChecksumMismatch`]);
//! 6. that nothing follows ([`GraphError::ExportTrailingData`]).
//!
//! Input that ends early gives [`GraphError::ExportTruncated`] (naming the part it ends
//! in); any other failure of the reader gives [`GraphError::ExportIo`]. Nothing is
//! allocated from a length or count before it is checked: the record count only bounds
//! the loop, and a record buffer grows with the bytes actually read.
//!
//! # Streaming
//!
//! [`ExportWriter`] and [`ExportReader`] stream: neither holds more than one record. The
//! reader yields each record as soon as it is read, *before* the checksum at the end is
//! checked, so an importer stages what it reads and commits only once the iterator has
//! ended without an error ([`read_export`] does that by collecting). Both do many small
//! reads or writes: give them a `BufReader` / `BufWriter` over a file.
//!
//! ```
//! use peergroup_base::{PeerName, UnixTime};
//! use peergroup_graph::export::{read_export, write_export};
//! use peergroup_graph::{GraphId, Hlc, RecordBuilder, RecordId, RecordLimits, RecordType};
//!
//! let limits = RecordLimits::default();
//! let graph = GraphId::new("0.graph")?;
//! let record = RecordBuilder::new(
//!     RecordType::from_u128(1),
//!     RecordId::from_u128(2),
//!     PeerName::parse("0.alice").expect("a valid peer name"),
//!     Hlc::new(UnixTime::from_millis(1_000), 0, 1),
//!     UnixTime::from_millis(10_000),
//! )
//! .payload(b"hello".to_vec())
//! .build(&limits)?;
//!
//! let mut file = Vec::new();
//! let written = write_export(&mut file, &graph, &[record.clone()])?;
//! assert_eq!(written, file.len() as u64);
//!
//! assert_eq!(read_export(&file[..], &graph, &limits)?, [record]);
//! let other = GraphId::new("0.other")?;
//! assert!(read_export(&file[..], &other, &limits).is_err());
//! # Ok::<(), peergroup_graph::GraphError>(())
//! ```

use std::io::{self, Read, Write};
use std::iter::FusedIterator;

use ring::digest::{Context, SHA256};

use crate::error::GraphError;
use crate::id::{GraphId, MAX_GRAPH_ID_CHARS};
use crate::record::{Record, RecordLimits};

/// The first 8 bytes of every export.
pub const EXPORT_MAGIC: [u8; 8] = *b"PGGRAPHX";

/// The export format version this code writes and reads.
pub const EXPORT_VERSION: u8 = 1;

/// Length of the trailing SHA-256 checksum.
pub const EXPORT_CHECKSUM_LEN: usize = 32;

/// Longest graph id in bytes: 256 Unicode scalar values of at most 4 bytes each.
const MAX_GRAPH_ID_BYTES: usize = MAX_GRAPH_ID_CHARS * 4;

/// A record buffer starts at most this large and grows with the bytes actually read, so a
/// length prefix that overstates what follows does not allocate the size it states.
const INITIAL_RECORD_BUFFER: usize = 64 << 10;

/// How many records [`read_export`] reserves room for before reading any.
const MAX_RESERVED_RECORDS: usize = 1024;

/// Writes an export of `records` (live records and tombstones, in the order given) of
/// `graph` to `w`, and returns the number of bytes written.
///
/// Fails only if `w` fails ([`GraphError::ExportIo`]).
pub fn write_export<W: Write>(
    w: W,
    graph: &GraphId,
    records: &[Record],
) -> Result<u64, GraphError> {
    // usize always fits u64 on supported targets; saturate rather than assume.
    let count = u64::try_from(records.len()).unwrap_or(u64::MAX);
    let mut writer = ExportWriter::new(w, graph, count)?;
    for record in records {
        writer.write_record(record)?;
    }
    writer.finish()
}

/// Reads a whole export of graph `expected`, checking each record against `limits`: the
/// records in file order, or the first failed check (see the [module docs](self)).
///
/// Returns records only once the checksum and the end of the input have been checked.
pub fn read_export<R: Read>(
    r: R,
    expected: &GraphId,
    limits: &RecordLimits,
) -> Result<Vec<Record>, GraphError> {
    let reader = ExportReader::open(r, expected, limits)?;
    let reserve =
        usize::try_from(reader.record_count()).unwrap_or(usize::MAX).min(MAX_RESERVED_RECORDS);
    let mut records = Vec::with_capacity(reserve);
    for record in reader {
        records.push(record?);
    }
    Ok(records)
}

/// Writes an export one record at a time; the number of records is declared up front,
/// in the header.
///
/// ```
/// use peergroup_graph::GraphId;
/// use peergroup_graph::export::ExportWriter;
///
/// let mut out = Vec::new();
/// let writer = ExportWriter::new(&mut out, &GraphId::new("0.graph")?, 0)?;
/// let written = writer.finish()?;
/// assert_eq!(written, 8 + 1 + 2 + 7 + 8 + 32);
/// assert_eq!(out.len() as u64, written);
/// # Ok::<(), peergroup_graph::GraphError>(())
/// ```
pub struct ExportWriter<W: Write> {
    inner: W,
    hash: Context,
    declared: u64,
    records: u64,
    bytes: u64,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the header of an export of `record_count` records of `graph`.
    pub fn new(inner: W, graph: &GraphId, record_count: u64) -> Result<Self, GraphError> {
        let id = graph.as_str().as_bytes();
        // A GraphId holds at most 256 scalar values of at most 4 bytes: it fits a u16.
        let id_len = u16::try_from(id.len()).map_err(|_| GraphError::InvalidGraphId {
            reason: "it is longer than 256 characters",
        })?;
        let mut header = Vec::with_capacity(EXPORT_MAGIC.len() + 1 + 2 + id.len() + 8);
        header.extend_from_slice(&EXPORT_MAGIC);
        header.push(EXPORT_VERSION);
        header.extend_from_slice(&id_len.to_be_bytes());
        header.extend_from_slice(id);
        header.extend_from_slice(&record_count.to_be_bytes());
        let mut writer = ExportWriter {
            inner,
            hash: Context::new(&SHA256),
            declared: record_count,
            records: 0,
            bytes: 0,
        };
        writer.put(&header, "write the header")?;
        Ok(writer)
    }

    /// Appends one record (live or tombstone) in its canonical encoding.
    ///
    /// Fails with [`GraphError::ExportCountMismatch`] if the header's count has already
    /// been written.
    pub fn write_record(&mut self, record: &Record) -> Result<(), GraphError> {
        if self.records >= self.declared {
            return Err(GraphError::ExportCountMismatch {
                declared: self.declared,
                written: self.records.saturating_add(1),
            });
        }
        let encoded = record.encoded();
        // Records are at most 60 MiB (ABSOLUTE_MAX_RECORD_SIZE): the length fits a u32.
        let len = u32::try_from(encoded.len()).map_err(|_| GraphError::MaxRecordSizeExceeded {
            size: encoded.len(),
            max: u32::MAX,
        })?;
        self.put(&len.to_be_bytes(), "write a record")?;
        self.put(encoded, "write a record")?;
        self.records += 1;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Writes the checksum and flushes; returns the size of the whole export.
    ///
    /// Fails with [`GraphError::ExportCountMismatch`] (writing nothing more) if fewer
    /// records were written than declared.
    pub fn finish(self) -> Result<u64, GraphError> {
        if self.records != self.declared {
            return Err(GraphError::ExportCountMismatch {
                declared: self.declared,
                written: self.records,
            });
        }
        let ExportWriter { mut inner, hash, bytes, .. } = self;
        let checksum = hash.finish();
        inner
            .write_all(checksum.as_ref())
            .map_err(|source| GraphError::ExportIo { operation: "write the checksum", source })?;
        inner.flush().map_err(|source| GraphError::ExportIo { operation: "flush", source })?;
        Ok(bytes + checksum.as_ref().len() as u64)
    }

    fn put(&mut self, bytes: &[u8], operation: &'static str) -> Result<(), GraphError> {
        self.inner.write_all(bytes).map_err(|source| GraphError::ExportIo { operation, source })?;
        self.hash.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

/// Reads an export: [`ExportReader::open`] checks the header, then the reader yields the
/// records in file order, and finally checks the checksum and the end of the input.
///
/// After the last record, the next call checks the checksum and yields `None` — or one
/// last `Err`. After any `Err` the reader yields `None`. Records come before the checksum
/// is checked (see [Streaming](crate::export#streaming)).
pub struct ExportReader<R: Read> {
    inner: R,
    hash: Context,
    limits: RecordLimits,
    graph: GraphId,
    declared: u64,
    records: u64,
    done: bool,
}

impl<R: Read> ExportReader<R> {
    /// Reads and checks the header: magic, version, and that the export is of graph
    /// `expected`. Records will be checked against `limits`.
    pub fn open(inner: R, expected: &GraphId, limits: &RecordLimits) -> Result<Self, GraphError> {
        let mut reader = ExportReader {
            inner,
            hash: Context::new(&SHA256),
            limits: *limits,
            graph: expected.clone(),
            declared: 0,
            records: 0,
            done: false,
        };
        reader.read_magic()?;
        let [version] = reader.read_array::<1>("header", "read the header")?;
        if version != EXPORT_VERSION {
            return Err(GraphError::UnsupportedExportVersion { version });
        }
        let id_len =
            usize::from(u16::from_be_bytes(reader.read_array("header", "read the header")?));
        if id_len > MAX_GRAPH_ID_BYTES {
            return Err(GraphError::InvalidGraphId { reason: "it is longer than 256 characters" });
        }
        let mut id = vec![0; id_len];
        reader.read_hashed(&mut id, "header", "read the header")?;
        let id = String::from_utf8(id)
            .map_err(|_| GraphError::InvalidGraphId { reason: "it is not UTF-8" })?;
        let found = GraphId::new(&id)?;
        if found != *expected {
            return Err(GraphError::ExportWrongGraph { expected: expected.clone(), found });
        }
        reader.declared = u64::from_be_bytes(reader.read_array("header", "read the header")?);
        Ok(reader)
    }

    /// The graph the export is of (the one [`open`](Self::open) expected).
    pub fn graph(&self) -> &GraphId {
        &self.graph
    }

    /// The number of records the header declares.
    pub fn record_count(&self) -> u64 {
        self.declared
    }

    /// The number of records read so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// The magic, told apart from a truncated one: a proper prefix of the magic is a
    /// truncated export, anything else is not an export.
    fn read_magic(&mut self) -> Result<(), GraphError> {
        let mut magic = Vec::with_capacity(EXPORT_MAGIC.len());
        (&mut self.inner)
            .take(EXPORT_MAGIC.len() as u64)
            .read_to_end(&mut magic)
            .map_err(|source| GraphError::ExportIo { operation: "read the header", source })?;
        if magic[..] != EXPORT_MAGIC {
            return Err(if EXPORT_MAGIC.starts_with(&magic) {
                GraphError::ExportTruncated { part: "magic" }
            } else {
                GraphError::ExportNotAnExport
            });
        }
        self.hash.update(&magic);
        Ok(())
    }

    fn read_record(&mut self) -> Result<Record, GraphError> {
        let len = u32::from_be_bytes(self.read_array("record length", "read a record")?);
        let max = self.limits.max_record_size();
        if len > max {
            return Err(GraphError::MaxRecordSizeExceeded { size: len as usize, max });
        }
        let len = len as usize;
        let mut buf = Vec::with_capacity(len.min(INITIAL_RECORD_BUFFER));
        (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|source| GraphError::ExportIo { operation: "read a record", source })?;
        if buf.len() != len {
            return Err(GraphError::ExportTruncated { part: "record" });
        }
        self.hash.update(&buf);
        self.records += 1;
        Record::decode(&buf, &self.limits)
    }

    /// Checks the checksum, then that the input ends there.
    fn read_end(&mut self) -> Result<(), GraphError> {
        let mut checksum = [0u8; EXPORT_CHECKSUM_LEN];
        self.inner
            .read_exact(&mut checksum)
            .map_err(|e| read_error(e, "checksum", "read the checksum"))?;
        if self.hash.clone().finish().as_ref() != checksum {
            return Err(GraphError::ExportChecksumMismatch);
        }
        let mut probe = [0u8; 1];
        loop {
            match self.inner.read(&mut probe) {
                Ok(0) => return Ok(()),
                Ok(_) => return Err(GraphError::ExportTrailingData),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(GraphError::ExportIo {
                        operation: "check for trailing data",
                        source,
                    });
                }
            }
        }
    }

    fn read_array<const N: usize>(
        &mut self,
        part: &'static str,
        operation: &'static str,
    ) -> Result<[u8; N], GraphError> {
        let mut buf = [0u8; N];
        self.read_hashed(&mut buf, part, operation)?;
        Ok(buf)
    }

    fn read_hashed(
        &mut self,
        buf: &mut [u8],
        part: &'static str,
        operation: &'static str,
    ) -> Result<(), GraphError> {
        self.inner.read_exact(buf).map_err(|e| read_error(e, part, operation))?;
        self.hash.update(buf);
        Ok(())
    }
}

/// An early end of input is a truncated export; anything else is an I/O failure.
fn read_error(e: io::Error, part: &'static str, operation: &'static str) -> GraphError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        GraphError::ExportTruncated { part }
    } else {
        GraphError::ExportIo { operation, source: e }
    }
}

impl<R: Read> Iterator for ExportReader<R> {
    type Item = Result<Record, GraphError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.records < self.declared {
            let record = self.read_record();
            self.done = record.is_err();
            return Some(record);
        }
        self.done = true;
        self.read_end().err().map(Err)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // The remaining records, and possibly one final error.
        let remaining = (self.declared - self.records).saturating_add(1);
        (0, usize::try_from(remaining).ok())
    }
}

impl<R: Read> FusedIterator for ExportReader<R> {}

impl<R: Read> std::fmt::Debug for ExportReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportReader")
            .field("graph", &self.graph)
            .field("declared", &self.declared)
            .field("records", &self.records)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<W: Write> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter")
            .field("declared", &self.declared)
            .field("records", &self.records)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let mut out = Vec::new();
        let g = GraphId::new("0.g").unwrap();
        let n = ExportWriter::new(&mut out, &g, 0).unwrap().finish().unwrap();
        assert_eq!(n, out.len() as u64);
        assert_eq!(&out[..8], b"PGGRAPHX");
        assert_eq!(&out[8..14], [1, 0, 3, b'0', b'.', b'g']);
        assert_eq!(&out[14..22], [0; 8]);
        assert_eq!(&out[22..], ring::digest::digest(&SHA256, &out[..22]).as_ref());
    }

    #[test]
    fn writer_counts_records() {
        let g = GraphId::new("0.g").unwrap();
        let w = ExportWriter::new(Vec::new(), &g, 1).unwrap();
        assert!(matches!(
            w.finish(),
            Err(GraphError::ExportCountMismatch { declared: 1, written: 0 })
        ));
    }
}
