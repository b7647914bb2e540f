//! The records of a group (`PeerGroupAddRecord` … `PeerGroupSearchRecords`), its
//! properties, export and import of its database, direct connections and typed records:
//! the part of [`Group`]'s API that reads and writes the replica.

use std::path::Path;

use peergroup_base::PeerAddr;
use peergroup_graph::RecordId;
use peergroup_graph::proto::{Command as GraphCommand, NewRecord, RecordUpdate};
use peergroup_graph::record::Record;
use peergroup_graph::search::Query;
use peergroup_graph::store::{MAX_PAGE, RecordFilter, RecordPage, RecordStore};

use tokio::sync::oneshot;

use super::driven::Request;
use super::files::write_metadata;
use super::{Group, GroupNetError, ImportView, State, Typed, wall_now};
use crate::node::Command;
use crate::records::{GroupProperties, PROPERTIES_TYPE, properties_id};

impl Group {
    // ----- records ------------------------------------------------------------------------

    /// Adds a record signed by this member (`PeerGroupAddRecord`); returns it as stored,
    /// once durable.
    pub async fn add_record(&self, record: NewRecord) -> Result<Record, GroupNetError> {
        let id = record.id;
        self.run_one(Command::Graph(GraphCommand::AddRecord(record)), true, "AddRecord").await?;
        self.stored(id, "AddRecord").await
    }

    /// Adds several records with one durable commit, signed together over the machine's
    /// cores (much faster than one by one); returns their ids. Stops at the first failure
    /// ([`GroupNetError::Command`], whose error names the record); the records before it
    /// are stored.
    pub async fn add_records(
        &self,
        records: Vec<NewRecord>,
    ) -> Result<Vec<RecordId>, GroupNetError> {
        let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
        let State::Running(handle) = &self.state else {
            return Err(match self.state {
                State::Idle(_) => GroupNetError::NotStarted,
                _ => GroupNetError::Closed,
            });
        };
        // One command: the records are signed together, over the cores.
        let commands = vec![Command::Graph(GraphCommand::AddRecords(records))];
        let (tx, rx) = oneshot::channel();
        handle
            .command(Request::Run { commands, durable: true, reply: tx })
            .await
            .map_err(|_| GroupNetError::Closed)?;
        for r in rx.await.map_err(|_| GroupNetError::Closed)?? {
            r.map_err(|error| GroupNetError::Command { command: "AddRecords", error })?;
        }
        Ok(ids)
    }

    /// The number of records in this replica (tombstones and security records included).
    pub async fn record_count(&self) -> Result<u64, GroupNetError> {
        Ok(self.read(|_, node| node.graph().store().len()).await??)
    }

    /// Writes the next version of a record (`PeerGroupUpdateRecord`): its creator or an
    /// administrator only.
    pub async fn update_record(&self, update: RecordUpdate) -> Result<Record, GroupNetError> {
        let id = update.id;
        self.run_one(Command::Graph(GraphCommand::UpdateRecord(update)), true, "UpdateRecord")
            .await?;
        self.stored(id, "UpdateRecord").await
    }

    /// Deletes a record (`PeerGroupDeleteRecord`): its creator or an administrator only.
    pub async fn delete_record(&self, id: RecordId) -> Result<(), GroupNetError> {
        self.run_one(Command::Graph(GraphCommand::DeleteRecord(id)), true, "DeleteRecord").await
    }

    /// The live record with this id.
    pub async fn get(&self, id: RecordId) -> Result<Option<Record>, GroupNetError> {
        Ok(self.read(move |now, node| node.graph().store().get_live(&id, now.unix)).await??)
    }

    /// The live records matching `filter` (`PeerGroupEnumRecords`).
    pub async fn enumerate(&self, filter: RecordFilter) -> Result<Vec<Record>, GroupNetError> {
        let mut records =
            self.read(move |now, node| node.graph().store().enumerate(&filter, now.unix)).await??;
        records.retain(|r| !r.is_deleted());
        Ok(records)
    }

    /// The live records matching a query of the graph's search language
    /// (`PeerGroupSearchRecords`).
    pub async fn search(&self, query: &str) -> Result<Vec<Record>, GroupNetError> {
        let query = Query::parse(query).map_err(peergroup_graph::GraphError::from)?;
        let mut records =
            self.read(move |now, node| node.graph().store().search(&query, now.unix)).await??;
        records.retain(|r| !r.is_deleted());
        Ok(records)
    }

    /// One page of [`enumerate`](Group::enumerate): up to `limit` live records matching
    /// `filter` whose ids come after `after` (from the first when `None`), in id order,
    /// and where the next page starts. The node reads only as far as the page reaches, so
    /// a large replica is listed without holding the group up; at most
    /// [`MAX_PAGE`] records per page (a larger `limit` counts as [`MAX_PAGE`]).
    pub async fn enumerate_page(
        &self,
        filter: RecordFilter,
        after: Option<RecordId>,
        limit: usize,
    ) -> Result<RecordPage, GroupNetError> {
        let limit = limit.min(MAX_PAGE);
        let records = self
            .read(move |now, node| {
                node.graph().store().enumerate_page(&filter, after.as_ref(), limit, now.unix)
            })
            .await??;
        Ok(RecordPage::new(records, limit))
    }

    /// One page of [`search`](Group::search), as [`enumerate_page`](Group::enumerate_page)
    /// pages [`enumerate`](Group::enumerate).
    pub async fn search_page(
        &self,
        query: &str,
        after: Option<RecordId>,
        limit: usize,
    ) -> Result<RecordPage, GroupNetError> {
        let query = Query::parse(query).map_err(peergroup_graph::GraphError::from)?;
        let limit = limit.min(MAX_PAGE);
        let records = self
            .read(move |now, node| {
                node.graph().store().search_page(&query, after.as_ref(), limit, now.unix)
            })
            .await??;
        Ok(RecordPage::new(records, limit))
    }

    /// The group's properties, from the properties record (`None` until it arrived).
    pub async fn properties(&self) -> Result<Option<GroupProperties>, GroupNetError> {
        let id = properties_id(self.local.chain.group_key());
        let record =
            self.read(move |now, node| node.graph().store().get_live(&id, now.unix)).await??;
        match record {
            Some(r) if r.record_type() == PROPERTIES_TYPE => {
                Ok(Some(GroupProperties::decode(r.payload()).map_err(crate::GroupError::from)?))
            }
            _ => Ok(None),
        }
    }

    /// Changes the friendly name and/or comment (`PeerGroupSetProperties`; the creator
    /// only: the properties are signed by the group key). Every member receives the new
    /// properties record (a `RecordChanged` of type
    /// [`crate::records::PROPERTIES_TYPE`], and an
    /// [`Event::PropertyChanged`](crate::node::Event::PropertyChanged)); the other properties are immutable.
    pub async fn set_properties(
        &mut self,
        friendly_name: Option<&str>,
        comment: Option<&str>,
    ) -> Result<GroupProperties, GroupNetError> {
        if !self.group_key {
            return Err(crate::GroupError::InvalidArgument(
                "only the group's creator (who holds the group key) may change its properties"
                    .into(),
            )
            .into());
        }
        let mut p = self.properties().await?.ok_or_else(|| {
            crate::GroupError::InvalidArgument("the properties record is missing".into())
        })?;
        if let Some(f) = friendly_name {
            if f.chars().count() > crate::records::MAX_GROUP_FRIENDLY_NAME_CHARS
                || f.chars().any(char::is_control)
            {
                return Err(crate::GroupError::InvalidArgument(
                    "the friendly name is at most 255 characters, without control characters"
                        .into(),
                )
                .into());
            }
            p.friendly_name = f.to_owned();
        }
        if let Some(c) = comment {
            if c.len() > crate::records::MAX_COMMENT_BYTES {
                return Err(crate::GroupError::InvalidArgument(
                    "the comment is at most 1,024 bytes".into(),
                )
                .into());
            }
            p.comment = c.to_owned();
        }
        let update = RecordUpdate {
            id: properties_id(self.local.chain.group_key()),
            payload: Some(p.encode()),
            ..RecordUpdate::default()
        };
        self.update_record(update).await?;
        self.meta.friendly_name = p.friendly_name.clone();
        write_metadata(&self.dir, &self.meta)?;
        Ok(p)
    }

    // ----- export and import --------------------------------------------------------------

    /// Writes this replica — live records and tombstones, security records included — to an
    /// export file (`PeerGroupExportDatabase`; the graph's export format), atomically;
    /// returns the number of records. Allowed only before the group listens or connects.
    /// The file holds no key: the group key and the password setup stay in the directory.
    pub fn export(&self, path: &Path) -> Result<u64, GroupNetError> {
        let State::Idle(node) = &self.state else {
            return Err(GroupNetError::Running { operation: "export" });
        };
        let now = wall_now();
        let mut records = Vec::new();
        let mut range = peergroup_graph::SyncRange::ALL;
        loop {
            let chunk = node.graph().store().sync_records(&range, 4096, now)?;
            let Some(last) = chunk.last() else { break };
            range = peergroup_graph::SyncRange::after(last.sync_key());
            records.extend(chunk);
        }
        let graph = node.graph().graph().clone();
        let mut result = Ok(0);
        peergroup_base::fsutil::write_atomic_with(path, |w| {
            result = peergroup_graph::export::write_export(w, &graph, &records);
            match &result {
                Ok(_) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            }
        })
        .map_err(|e| match std::mem::replace(&mut result, Ok(0)) {
            Err(g) => GroupNetError::Graph(g),
            Ok(_) => GroupNetError::Io { operation: "write", path: path.to_path_buf(), source: e },
        })?;
        Ok(records.len() as u64)
    }

    /// Merges an export file of this group into this replica (`PeerGroupImportDatabase`).
    /// Allowed only before the group listens or connects. Every record goes through the
    /// group's security (signatures, roles, revocations) as a record from the network would,
    /// security records first; returns (stored, refused or deferred).
    pub fn import(&mut self, path: &Path) -> Result<(u64, u64), GroupNetError> {
        let State::Idle(node) = &mut self.state else {
            return Err(GroupNetError::Running { operation: "import" });
        };
        let file = std::fs::File::open(path).map_err(GroupNetError::io("open", path))?;
        let limits = *node.graph().store().limits();
        let graph = node.graph().graph().clone();
        let mut records =
            peergroup_graph::export::read_export(std::io::BufReader::new(file), &graph, &limits)?;
        // security records first (membership, properties, revocations), as sync does
        records.sort_by_key(|r| !crate::records::is_security_record(r));
        let now = wall_now();
        let (mut stored, mut other) = (0u64, 0u64);
        for r in records {
            match node.graph_mut().validate_with_provider(&r, now) {
                peergroup_graph::proto::Validation::Accept => {
                    match node.graph_mut().store_mut().apply(&r, now)? {
                        peergroup_graph::ApplyOutcome::Added
                        | peergroup_graph::ApplyOutcome::Updated { .. } => {
                            stored += 1;
                            let graph_id = graph.clone();
                            let (store, provider) = node.graph_mut().store_and_provider_mut();
                            let view = ImportView { store, now };
                            let cx = peergroup_graph::proto::ProviderContext {
                                graph: &graph_id,
                                now,
                                records: &view,
                            };
                            let _ =
                                peergroup_graph::proto::SecurityProvider::stored(provider, &cx, &r);
                        }
                        _ => other += 1,
                    }
                }
                _ => other += 1,
            }
        }
        node.graph_mut().store_mut().flush()?;
        Ok((stored, other))
    }

    // ----- direct connections -------------------------------------------------------------

    /// Opens a direct connection to a member for application data
    /// (`PeerGroupOpenDirectConnection`); admission runs on it first.
    pub async fn open_direct(&self, peer: PeerAddr) -> Result<(), GroupNetError> {
        self.run_one(Command::Graph(GraphCommand::OpenDirect(peer)), false, "OpenDirect").await
    }

    /// Sends typed data to a neighbour or direct connection (`PeerGroupSendData`); it
    /// arrives as the graph's `IncomingData` event.
    pub async fn send_data(
        &self,
        peer: PeerAddr,
        data_type: peergroup_graph::proto::DataType,
        data: Vec<u8>,
    ) -> Result<(), GroupNetError> {
        self.run_one(
            Command::Graph(GraphCommand::SendData { peer, data_type, data }),
            false,
            "SendData",
        )
        .await
    }

    // ----- typed records ------------------------------------------------------------------

    /// Typed access to the records of one type: values of `T` encoded with postcard
    /// (serde), as Windows' group wrapper let an application derive its own group class.
    pub fn typed<T>(&self, record_type: peergroup_graph::RecordType) -> Typed<'_, T> {
        Typed { group: self, record_type, _t: std::marker::PhantomData }
    }
}
