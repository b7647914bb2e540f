//! Per-graph record limits.

use crate::error::{GraphError, Rejection};

/// Smallest maximum record size a graph may configure: 1 KiB ([MS-PPGRH] 2.2.3.1).
pub const MIN_MAX_RECORD_SIZE: u32 = 1024;
/// Largest maximum record size a graph may configure: 60 MiB ([MS-PPGRH] 2.2.3.1).
pub const ABSOLUTE_MAX_RECORD_SIZE: u32 = 60 << 20;
/// Default maximum record size: 1 MiB, the default frame size (DESIGN.md §4), so a record
/// always fits one frame of a default-configured peer.
pub const DEFAULT_MAX_RECORD_SIZE: u32 = 1 << 20;

/// The limits a graph puts on its records, checked on every path a record takes in:
/// local add and update (the builder), decoding from the network, loading from disk, and
/// [`RecordStore::apply`](crate::store::RecordStore::apply).
///
/// ```
/// use peergroup_graph::record::RecordLimits;
/// let limits = RecordLimits::default().with_max_record_size(4 << 20)?;
/// assert_eq!(limits.max_record_size(), 4 << 20);
/// assert!(RecordLimits::default().with_max_record_size(100 << 20).is_err());
/// # Ok::<(), peergroup_graph::GraphError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    max_record_size: u32,
    max_attributes: u32,
    max_attribute_bytes: u32,
    max_security_data: u32,
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits {
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            max_attributes: 64,
            max_attribute_bytes: 64 << 10,
            max_security_data: 64 << 10,
        }
    }
}

impl RecordLimits {
    /// Maximum size of a whole encoded record (body and security data), in bytes.
    /// Default **1 MiB** ([`DEFAULT_MAX_RECORD_SIZE`]); configurable from 1 KiB to 60 MiB
    /// as in [MS-PPGRH] 2.2.3.1.
    pub fn max_record_size(&self) -> u32 {
        self.max_record_size
    }

    /// Maximum number of attributes. Default **64**: attributes are for search; bulk
    /// data belongs in the payload.
    pub fn max_attributes(&self) -> u32 {
        self.max_attributes
    }

    /// Maximum total size of the attributes (names plus values,
    /// [`Attribute::size`](crate::record::Attribute::size)). Default **64 KiB**, so that a
    /// search scans a bounded amount of text per record.
    pub fn max_attribute_bytes(&self) -> u32 {
        self.max_attribute_bytes
    }

    /// Maximum size of the security data. Default **64 KiB**: room for a signature and a
    /// certificate chain of a group member (24 links, `DESIGN.md` §7) with margin.
    pub fn max_security_data(&self) -> u32 {
        self.max_security_data
    }

    /// These limits with a different maximum record size (1 KiB ..= 60 MiB).
    pub fn with_max_record_size(mut self, bytes: u32) -> Result<Self, GraphError> {
        if !(MIN_MAX_RECORD_SIZE..=ABSOLUTE_MAX_RECORD_SIZE).contains(&bytes) {
            return Err(GraphError::InvalidRecordSize {
                requested: bytes,
                min: MIN_MAX_RECORD_SIZE,
                max: ABSOLUTE_MAX_RECORD_SIZE,
            });
        }
        self.max_record_size = bytes;
        Ok(self)
    }

    /// These limits with a different maximum attribute count.
    pub fn with_max_attributes(mut self, count: u32) -> Self {
        self.max_attributes = count;
        self
    }

    /// These limits with a different maximum total attribute size.
    pub fn with_max_attribute_bytes(mut self, bytes: u32) -> Self {
        self.max_attribute_bytes = bytes;
        self
    }

    /// These limits with a different maximum security data size.
    pub fn with_max_security_data(mut self, bytes: u32) -> Self {
        self.max_security_data = bytes;
        self
    }

    /// Checks the limit-dependent properties of a record; the `Rejection` names the first
    /// limit broken.
    pub(crate) fn check(
        &self,
        encoded_len: usize,
        attribute_count: usize,
        attribute_bytes: usize,
        security_len: usize,
    ) -> Result<(), Rejection> {
        if encoded_len > self.max_record_size as usize {
            return Err(Rejection::MaxRecordSizeExceeded {
                size: encoded_len,
                max: self.max_record_size,
            });
        }
        if attribute_count > self.max_attributes as usize {
            return Err(Rejection::TooManyAttributes {
                count: attribute_count,
                max: self.max_attributes,
            });
        }
        if attribute_bytes > self.max_attribute_bytes as usize {
            return Err(Rejection::AttributesTooLarge {
                size: attribute_bytes,
                max: self.max_attribute_bytes,
            });
        }
        if security_len > self.max_security_data as usize {
            return Err(Rejection::SecurityDataTooLarge {
                size: security_len,
                max: self.max_security_data,
            });
        }
        Ok(())
    }
}
