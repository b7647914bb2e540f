#![allow(clippy::unwrap_used)]
//! The database export file (`proto-specs/graph.md` §12): round trips of live records and
//! tombstones, each failed check with its own error, truncation at every length, damage
//! anywhere, limits enforced before reading, arbitrary input never panicking, and the
//! spec's vectors byte for byte.

use crate::common;

use std::io::{self, Read, Write};

use common::*;
use peergroup_base::spec_vectors::{self, get};
use peergroup_base::{PeerName, UnixTime};
use peergroup_graph::export::{
    EXPORT_CHECKSUM_LEN, EXPORT_MAGIC, ExportReader, ExportWriter, read_export, write_export,
};
use peergroup_graph::record::{AttributeValue, Record, RecordBuilder, RecordLimits};
use peergroup_graph::{GraphError, GraphId, Hlc, RecordId, RecordType};
use proptest::prelude::*;

const SPEC: &str = include_str!("../../../../proto-specs/graph.md");

fn graph() -> GraphId {
    GraphId::new("0.graph").unwrap()
}

fn limits() -> RecordLimits {
    RecordLimits::default()
}

fn export(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = write_export(&mut out, &graph(), records).unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

fn read(bytes: &[u8]) -> Result<Vec<Record>, GraphError> {
    read_export(bytes, &graph(), &limits())
}

/// Re-seals `bytes` (everything but the old checksum) with a correct checksum.
fn reseal(mut body: Vec<u8>) -> Vec<u8> {
    let sum = ring::digest::digest(&ring::digest::SHA256, &body);
    body.extend_from_slice(sum.as_ref());
    body
}

/// An export body (no checksum) of `0.graph` declaring `count` entries.
fn header(count: u64) -> Vec<u8> {
    let mut h = EXPORT_MAGIC.to_vec();
    h.push(1);
    h.extend_from_slice(&7u16.to_be_bytes());
    h.extend_from_slice(b"0.graph");
    h.extend_from_slice(&count.to_be_bytes());
    h
}

fn entry(out: &mut Vec<u8>, record: &[u8]) {
    out.extend_from_slice(&u32::try_from(record.len()).unwrap().to_be_bytes());
    out.extend_from_slice(record);
}

/// 300 records: versions 1 with attributes of every type, updates with security data,
/// and tombstones (every fifth record).
fn many_records() -> Vec<Record> {
    let l = limits();
    (0..300u64)
        .map(|i| {
            let b = builder(u128::from(i) + 1, u128::from(i % 7), "0.alice", i)
                .attribute("label", format!("record {i}"))
                .attribute("when", UnixTime::from_millis(NOW.as_millis() + i))
                .attribute("blob", AttributeValue::Bytes(vec![u8::try_from(i % 256).unwrap(); 5]))
                .payload(vec![0xab; usize::try_from(i).unwrap() * 3]);
            let r = b.build(&l).unwrap();
            match i % 5 {
                0 => r.tombstone(name("0.bob"), hlc(10_000 + i, 0, 2), &l).unwrap(),
                1 => r
                    .update(name("0.carol"), hlc(20_000 + i, 1, 3))
                    .security_data(vec![7; 64])
                    .build(&l)
                    .unwrap(),
                _ => r,
            }
        })
        .collect()
}

/// A small export: three records, one of them a tombstone.
fn small() -> (Vec<Record>, Vec<u8>) {
    let l = limits();
    let a = rec(1, 1, "0.alice", 0);
    let b = rec(2, 1, "0.bob", 1);
    let c = rec(3, 2, "0.carol", 2).tombstone(name("0.carol"), hlc(50, 0, 1), &l).unwrap();
    let records = vec![a, b, c];
    let bytes = export(&records);
    (records, bytes)
}

#[test]
fn round_trip_many_records_with_tombstones() {
    let records = many_records();
    assert_eq!(records.iter().filter(|r| r.is_deleted()).count(), 60);
    let bytes = export(&records);
    let size: usize = records.iter().map(Record::encoded_len).sum();
    assert_eq!(bytes.len(), 51 + 7 + 4 * records.len() + size, "§12.1 size formula");
    let back = read(&bytes).unwrap();
    assert_eq!(back, records, "same records, same order, byte for byte");
    assert!(back.iter().zip(&records).all(|(a, b)| a.digest() == b.digest()));
    // And streaming:
    let mut reader = ExportReader::open(&bytes[..], &graph(), &limits()).unwrap();
    assert_eq!((reader.graph(), reader.record_count(), reader.records_read()), (&graph(), 300, 0));
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first, records[0]);
    assert_eq!(reader.records_read(), 1);
    assert_eq!(reader.by_ref().count(), 299);
    assert!(reader.next().is_none(), "fused");
}

#[test]
fn streaming_writer_matches_write_export() {
    let records = many_records();
    let mut out = Vec::new();
    let mut w = ExportWriter::new(&mut out, &graph(), 300).unwrap();
    for r in &records {
        w.write_record(r).unwrap();
    }
    let partial = w.bytes_written();
    let n = w.finish().unwrap();
    assert_eq!(n, partial + 32);
    assert_eq!(out, export(&records));
}

#[test]
fn writer_refuses_a_wrong_count() {
    let (records, _) = small();
    let mut w = ExportWriter::new(Vec::new(), &graph(), 2).unwrap();
    w.write_record(&records[0]).unwrap();
    w.write_record(&records[1]).unwrap();
    assert!(matches!(
        w.write_record(&records[2]),
        Err(GraphError::ExportCountMismatch { declared: 2, written: 3 })
    ));
    let mut w = ExportWriter::new(Vec::new(), &graph(), 3).unwrap();
    w.write_record(&records[0]).unwrap();
    assert!(matches!(w.finish(), Err(GraphError::ExportCountMismatch { declared: 3, written: 1 })));
}

#[test]
fn empty_export() {
    let bytes = export(&[]);
    assert_eq!(bytes.len(), 8 + 1 + 2 + 7 + 8 + 32);
    assert_eq!(read(&bytes).unwrap(), []);
    let mut reader = ExportReader::open(&bytes[..], &graph(), &limits()).unwrap();
    assert_eq!(reader.record_count(), 0);
    assert!(reader.next().is_none());
}

#[test]
fn wrong_graph_is_refused() {
    let (_, bytes) = small();
    let other = GraphId::new("0.other").unwrap();
    match read_export(&bytes[..], &other, &limits()) {
        Err(GraphError::ExportWrongGraph { expected, found }) => {
            assert_eq!((expected, found), (other, graph()));
        }
        other => panic!("expected ExportWrongGraph, got {other:?}"),
    }
}

#[test]
fn header_checks_name_what_failed() {
    let (_, bytes) = small();
    let mut x = bytes.clone();
    x[0] = b'Q';
    assert!(matches!(read(&x), Err(GraphError::ExportNotAnExport)));
    assert!(matches!(read(b"not an export at all"), Err(GraphError::ExportNotAnExport)));
    assert!(matches!(read(b"PGG"), Err(GraphError::ExportTruncated { part: "magic" })));
    let mut x = bytes.clone();
    x[8] = 2;
    assert!(matches!(read(&x), Err(GraphError::UnsupportedExportVersion { version: 2 })));
    // A graph id longer than any valid one is refused before it is read.
    let mut x = EXPORT_MAGIC.to_vec();
    x.extend_from_slice(&[1, 0xff, 0xff]);
    assert!(matches!(read(&x), Err(GraphError::InvalidGraphId { .. })));
    // Empty, not UTF-8, control characters.
    for id in [&b""[..], b"\xff\xfe", b"a\nb"] {
        let mut x = EXPORT_MAGIC.to_vec();
        x.push(1);
        x.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        x.extend_from_slice(id);
        x.extend_from_slice(&0u64.to_be_bytes());
        let x = reseal(x);
        assert!(matches!(read(&x), Err(GraphError::InvalidGraphId { .. })), "{id:?}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    let (_, bytes) = small();
    for cut in 0..bytes.len() {
        match read(&bytes[..cut]) {
            Err(GraphError::ExportTruncated { .. }) => {}
            other => panic!("cut at {cut} of {}: {other:?}", bytes.len()),
        }
    }
    assert!(read(&bytes).is_ok());
}

#[test]
fn trailing_data_is_refused() {
    let (_, bytes) = small();
    for extra in [&[0u8][..], &[0xff; 100]] {
        let mut x = bytes.clone();
        x.extend_from_slice(extra);
        assert!(matches!(read(&x), Err(GraphError::ExportTrailingData)));
    }
}

#[test]
fn every_flipped_byte_is_an_error() {
    let (records, bytes) = small();
    let checksum_start = bytes.len() - EXPORT_CHECKSUM_LEN;
    // Where each record's payload lies: flips there still decode, so only the checksum
    // can catch them.
    let mut payloads = Vec::new();
    let mut pos = 8 + 1 + 2 + 7 + 8;
    for r in &records {
        pos += 4;
        let enc = r.encoded();
        if !r.payload().is_empty() {
            let at = enc.windows(r.payload().len()).rposition(|w| w == r.payload()).unwrap();
            payloads.push(pos + at..pos + at + r.payload().len());
        }
        pos += enc.len();
    }
    assert_eq!(pos, checksum_start);
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut x = bytes.clone();
            x[i] ^= mask;
            let err = read(&x).expect_err(&format!("flip {mask:#04x} at {i}"));
            if i >= checksum_start || payloads.iter().any(|p| p.contains(&i)) {
                assert!(matches!(err, GraphError::ExportChecksumMismatch), "flip at {i}: {err:?}");
            }
        }
    }
}

#[test]
fn records_are_decoded_with_the_graphs_limits() {
    // A record that is valid under the default limits but has more attributes than this
    // graph allows gives the decode error, in an otherwise intact export.
    let (records, bytes) = small();
    let strict = limits().with_max_attributes(0);
    assert!(matches!(
        read_export(&bytes[..], &graph(), &strict),
        Err(GraphError::TooManyAttributes { count: 1, max: 0 })
    ));
    // A damaged record with a correct checksum: the decoder's error.
    let mut body = header(1);
    let mut bad = records[0].encoded().to_vec();
    bad[1] = 9; // the record format byte
    entry(&mut body, &bad);
    assert!(matches!(read(&reseal(body)), Err(GraphError::UnsupportedRecordFormat { format: 9 })));
    let mut body = header(1);
    let mut non_canonical = vec![(records[0].encoded()[0] & 0x7f) | 0x80, 0x00];
    non_canonical.extend_from_slice(&records[0].encoded()[1..]);
    entry(&mut body, &non_canonical);
    assert!(matches!(read(&reseal(body)), Err(GraphError::NonCanonicalRecord)));
}

/// Counts the bytes a reader hands out.
struct Counting<'a> {
    inner: &'a [u8],
    taken: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n;
        Ok(n)
    }
}

#[test]
fn oversize_length_prefix_is_refused_before_reading() {
    // A record of ~2,000 bytes, valid under the default limits, read by a graph whose
    // records are at most 1 KiB.
    let big = builder(9, 1, "0.alice", 0).payload(vec![5; 2_000]).build(&limits()).unwrap();
    let bytes = export(std::slice::from_ref(&big));
    let small_limits = limits().with_max_record_size(1024).unwrap();
    let mut src = Counting { inner: &bytes, taken: 0 };
    let mut reader = ExportReader::open(&mut src, &graph(), &small_limits).unwrap();
    match reader.next() {
        Some(Err(GraphError::MaxRecordSizeExceeded { size, max: 1024 })) => {
            assert_eq!(size, big.encoded_len());
        }
        other => panic!("{other:?}"),
    }
    assert!(reader.next().is_none());
    drop(reader);
    assert_eq!(src.taken, header(1).len() + 4, "nothing read past the length prefix");

    // A length prefix of 4 GiB - 1 with nothing behind it.
    let mut body = header(1);
    body.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        read(&body),
        Err(GraphError::MaxRecordSizeExceeded { size: 4_294_967_295, max: 1_048_576 })
    ));
    // A length within the limit, but the input ends: truncated, not a 1 MiB allocation.
    let mut body = header(1);
    body.extend_from_slice(&1_048_576u32.to_be_bytes());
    body.extend_from_slice(&[0; 10]);
    assert!(matches!(read(&body), Err(GraphError::ExportTruncated { part: "record" })));
}

#[test]
fn huge_record_count_is_not_allocated() {
    let body = header(u64::MAX);
    assert!(matches!(read(&body), Err(GraphError::ExportTruncated { part: "record length" })));
}

#[test]
fn records_come_before_the_checksum_is_checked() {
    let (records, mut bytes) = small();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let items: Vec<_> = ExportReader::open(&bytes[..], &graph(), &limits()).unwrap().collect();
    assert_eq!(items.len(), 4);
    for (item, r) in items.iter().zip(&records) {
        assert_eq!(item.as_ref().unwrap(), r);
    }
    assert!(matches!(items[3], Err(GraphError::ExportChecksumMismatch)));
}

/// Accepts `ok_bytes` bytes, then fails every call with `kind`.
struct Failing {
    ok_bytes: usize,
    kind: io::ErrorKind,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.ok_bytes == 0 {
            return Err(io::Error::new(self.kind, "disk full"));
        }
        let n = buf.len().min(self.ok_bytes);
        self.ok_bytes -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hands out `data`, then fails every call with `kind`.
struct FailingReader {
    data: Vec<u8>,
    pos: usize,
    kind: io::ErrorKind,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.data.len() {
            return Err(io::Error::new(self.kind, "device gone"));
        }
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn io_failures_name_the_operation() {
    let (records, _) = small();
    let w = Failing { ok_bytes: 0, kind: io::ErrorKind::Other };
    assert!(matches!(
        write_export(w, &graph(), &records),
        Err(GraphError::ExportIo { operation: "write the header", .. })
    ));
    let w = Failing { ok_bytes: 30, kind: io::ErrorKind::Other };
    assert!(matches!(
        write_export(w, &graph(), &records),
        Err(GraphError::ExportIo { operation: "write a record", .. })
    ));
    let r = FailingReader { data: header(0)[..12].to_vec(), pos: 0, kind: io::ErrorKind::Other };
    assert!(matches!(
        ExportReader::open(r, &graph(), &limits()),
        Err(GraphError::ExportIo { operation: "read the header", .. })
    ));
    let r = FailingReader { data: header(0), pos: 0, kind: io::ErrorKind::PermissionDenied };
    let mut reader = ExportReader::open(r, &graph(), &limits()).unwrap();
    let err = reader.next().unwrap().unwrap_err();
    assert!(matches!(err, GraphError::ExportIo { operation: "read the checksum", .. }));
    assert!(err.to_string().contains("cannot read the checksum"), "{err}");
}

// --- §12.4 vectors ---

/// The record of vector `record-new` (§10.1).
fn record_new() -> Record {
    RecordBuilder::new(
        RecordType::parse("11111111-2222-4333-8444-555555555555").unwrap(),
        RecordId::parse("00112233-4455-4677-8899-aabbccddeeff").unwrap(),
        PeerName::parse("0.alice").unwrap(),
        Hlc::new(UnixTime::from_millis(1_795_632_699_250), 0, 7),
        UnixTime::from_millis(1_795_636_299_250),
    )
    .attribute("color", "red")
    .attribute("size", 3)
    .payload(b"hello".to_vec())
    .build(&RecordLimits::default())
    .unwrap()
}

#[test]
fn spec_vectors() {
    // §12.4 tags its blocks `export-vector`; read them with the shared vector parser.
    let text = SPEC.replace("```export-vector", "```vector");
    let mut checked = 0;
    for v in spec_vectors::parse(&text) {
        let name = get(&v, "name").unwrap();
        if !name.starts_with("export-") {
            continue;
        }
        let g = GraphId::new(get(&v, "graph").unwrap()).unwrap();
        let records: Vec<Record> = match get(&v, "records").unwrap() {
            "-" => Vec::new(),
            list => list
                .split_whitespace()
                .map(|r| match r {
                    "record-new" => record_new(),
                    other => panic!("{name}: unknown record {other}"),
                })
                .collect(),
        };
        let expected = hex::decode(get(&v, "export").unwrap().replace(' ', "")).unwrap();
        let mut out = Vec::new();
        write_export(&mut out, &g, &records).unwrap();
        assert_eq!(hex::encode(&out), hex::encode(&expected), "{name}: export");
        assert_eq!(read_export(&expected[..], &g, &limits()).unwrap(), records, "{name}: read");
        checked += 1;
    }
    assert_eq!(checked, 2, "every export vector of §12.4 is checked");
    // The spec's vector block is not a `vector` block, so §10's checks do not see it.
    assert!(
        spec_vectors::parse(SPEC).iter().all(|v| !get(v, "name").unwrap().starts_with("export-"))
    );
}

// --- arbitrary input ---

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        count in 0u64..5,
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = header(count);
        bytes.extend_from_slice(&tail);
        let _ = read(&bytes);
        // With a correct checksum, the records themselves are what is checked.
        let sealed = reseal(bytes);
        if let Ok(records) = read(&sealed) {
            prop_assert_eq!(export(&records), sealed);
        }
    }

    #[test]
    fn damaged_exports_are_refused_or_unchanged(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (records, bytes) = small();
        let mut x = bytes.clone();
        for (at, byte) in &edits {
            let i = at.index(x.len());
            x[i] = *byte;
        }
        if truncate {
            x.truncate(cut.index(x.len()));
        }
        match read(&x) {
            Ok(back) => {
                prop_assert_eq!(&x, &bytes);
                prop_assert_eq!(back, records);
            }
            Err(_) => prop_assert_ne!(&x, &bytes),
        }
    }
}
