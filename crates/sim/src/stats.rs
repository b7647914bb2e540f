//! Counters: what the network did with the messages, timers and nodes of a run.

/// Simulator-wide counters, updated as events happen. Two runs with the same seed and
/// inputs end with equal `Stats`.
///
/// Every message a core sends is counted once in `messages_sent`; every duplicate once in
/// `duplicated`. Each of those copies ends up exactly once in `messages_delivered` or one
/// of the `dropped_*` counters, or is still in flight:
/// `messages_sent + duplicated == messages_delivered + dropped() + in flight`
/// ([`Sim::messages_in_flight`](crate::Sim::messages_in_flight)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Events processed (messages, timers, commands, starts, crashes, …).
    pub steps: u64,
    /// Messages the cores asked to send.
    pub messages_sent: u64,
    /// Message copies handed to a live destination.
    pub messages_delivered: u64,
    /// Messages lost on the link (silently; the sender learns nothing).
    pub dropped_loss: u64,
    /// Messages between nodes separated by a partition or a blocked link.
    pub dropped_partition: u64,
    /// Messages whose destination was down at send or arrival time (or restarted while
    /// they were in flight).
    pub dropped_dead: u64,
    /// Messages to an address where no node listens, or where a node with another
    /// [`NodeId`](peergroup_base::NodeId) listens (the identity check of the handshake
    /// fails).
    pub dropped_unreachable: u64,
    /// Messages that postcard could not serialise (a bug in the core's message type).
    pub dropped_unencodable: u64,
    /// Extra copies created by link duplication.
    pub duplicated: u64,
    /// Message copies held back by link reordering.
    pub reordered: u64,
    /// Wire bytes of sent messages: frame header plus postcard body.
    pub bytes_sent: u64,
    /// Wire bytes of delivered message copies.
    pub bytes_delivered: u64,
    /// `PeerDown` inputs delivered to cores.
    pub peer_downs: u64,
    /// `Disconnect` outputs processed.
    pub disconnects: u64,
    /// Timers set by cores.
    pub timers_set: u64,
    /// Timers delivered to cores.
    pub timers_fired: u64,
    /// Timers dropped because their node crashed or restarted before they fired.
    pub timers_discarded: u64,
    /// Commands delivered to cores.
    pub commands: u64,
    /// Commands dropped because their node was down.
    pub commands_dropped: u64,
    /// Events the cores emitted.
    pub events_emitted: u64,
    /// Node crashes (manual, scheduled and churn).
    pub crashes: u64,
    /// Node restarts (manual, scheduled and churn).
    pub restarts: u64,
}

impl Stats {
    /// All dropped message copies, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss
            + self.dropped_partition
            + self.dropped_dead
            + self.dropped_unreachable
            + self.dropped_unencodable
    }
}

/// Per-node message counters. Duplicates count at the receiver only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NodeStats {
    /// Messages this node sent (across all its incarnations).
    pub sent: u64,
    /// Wire bytes this node sent.
    pub sent_bytes: u64,
    /// Message copies delivered to this node.
    pub received: u64,
    /// Wire bytes delivered to this node.
    pub received_bytes: u64,
}
