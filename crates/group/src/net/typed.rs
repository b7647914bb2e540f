//! Typed records ([`Group::typed`]): the records of one type as values of an application
//! type, encoded with postcard over serde — what Windows' group wrapper gave an application
//! that derived its own group class.

use std::time::Duration;

use peergroup_graph::RecordId;
use peergroup_graph::proto::{NewRecord, RecordUpdate};
use peergroup_graph::record::Record;
use peergroup_graph::store::RecordFilter;
use serde::Serialize;

use super::{Group, GroupNetError, random_record_id};

/// Records of one type as values of `T` ([`Group::typed`]).
#[derive(Debug)]
pub struct Typed<'a, T> {
    pub(super) group: &'a Group,
    pub(super) record_type: peergroup_graph::RecordType,
    pub(super) _t: std::marker::PhantomData<fn() -> T>,
}

/// Why a typed record could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TypedError {
    /// The group refused or failed.
    #[error(transparent)]
    Group(#[from] GroupNetError),
    /// The value does not encode, or a stored payload does not decode as `T`.
    #[error("record {id}: {reason}")]
    Codec {
        /// The record (nil for an encoding failure).
        id: RecordId,
        /// What postcard said.
        reason: String,
    },
    /// The record is of another type.
    #[error("record {id} is of type {found}, not {expected}")]
    WrongType {
        /// The record.
        id: RecordId,
        /// Its type.
        found: peergroup_graph::RecordType,
        /// The type asked for.
        expected: peergroup_graph::RecordType,
    },
}

impl<T: Serialize + serde::de::DeserializeOwned> Typed<'_, T> {
    /// Adds a record holding `value`, living `lifetime`; returns its id.
    pub async fn add(&self, value: &T, lifetime: Duration) -> Result<RecordId, TypedError> {
        let payload = postcard::to_allocvec(value)
            .map_err(|e| TypedError::Codec { id: RecordId::from_u128(0), reason: e.to_string() })?;
        let id = random_record_id();
        self.group.add_record(NewRecord::new(id, self.record_type, lifetime, payload)).await?;
        Ok(id)
    }

    /// Replaces the value of a record (its creator or an administrator).
    pub async fn update(&self, id: RecordId, value: &T) -> Result<(), TypedError> {
        let payload = postcard::to_allocvec(value)
            .map_err(|e| TypedError::Codec { id, reason: e.to_string() })?;
        self.group
            .update_record(RecordUpdate { id, payload: Some(payload), ..RecordUpdate::default() })
            .await?;
        Ok(())
    }

    /// The value of a record, if it is live here.
    pub async fn get(&self, id: RecordId) -> Result<Option<T>, TypedError> {
        match self.group.get(id).await? {
            Some(r) => self.decode(&r).map(Some),
            None => Ok(None),
        }
    }

    /// Every live record of the type, with its value; records whose payload does not
    /// decode are left out and counted in the second value.
    pub async fn all(&self) -> Result<(Vec<(Record, T)>, usize), TypedError> {
        let records = self.group.enumerate(RecordFilter::Type(self.record_type)).await?;
        let mut bad = 0;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            match self.decode(&r) {
                Ok(v) => out.push((r, v)),
                Err(_) => bad += 1,
            }
        }
        Ok((out, bad))
    }

    /// The value of `record`.
    pub fn decode(&self, record: &Record) -> Result<T, TypedError> {
        if record.record_type() != self.record_type {
            return Err(TypedError::WrongType {
                id: record.id(),
                found: record.record_type(),
                expected: self.record_type,
            });
        }
        postcard::from_bytes(record.payload())
            .map_err(|e| TypedError::Codec { id: record.id(), reason: e.to_string() })
    }

    /// The typed change an event reports, if it is one about this type: the change, the
    /// record id, and the value when the record is live here.
    pub async fn change_of(
        &self,
        event: &crate::node::Event,
    ) -> Result<Option<(peergroup_graph::proto::RecordChange, RecordId, Option<T>)>, TypedError>
    {
        let crate::node::Event::Graph(peergroup_graph::proto::Event::RecordChanged {
            change,
            id,
            record_type,
            ..
        }) = event
        else {
            return Ok(None);
        };
        if *record_type != self.record_type {
            return Ok(None);
        }
        Ok(Some((*change, *id, self.get(*id).await?)))
    }
}
