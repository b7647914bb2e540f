//! Settings of a PNRP core. Every default is justified in its field's documentation and
//! in `proto-specs/pnrp.md` §9.

use std::sync::Arc;
use std::time::Duration;

use peergroup_base::PeerAddr;

use crate::proto::cpa::DelegationValidator;
use crate::proto::store::StoreLimits;
use crate::proto::table::SubnetLimits;

/// Settings of a [`Pnrp`](crate::proto::Pnrp) core.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bucket size k, and the number of closest nodes a lookup converges on. Default: 20
    /// (Kademlia §2.2: large enough that k nodes are unlikely to fail within an hour).
    pub k: usize,
    /// Parallel requests per lookup path, α. Default: 3 (Kademlia §2.3).
    pub alpha: usize,
    /// Replicas r: how many of the nodes closest to a name's key store its CPAs.
    /// Default: 20 (= k). With every live replica answering for the whole name, a lookup
    /// succeeds as soon as it reaches any of the r closest nodes; r = 20 makes that the
    /// node a first-hop answer usually points at (§7.3), and keeps a name alive when
    /// half the cloud leaves at once (P(all 20 gone) ≈ 10⁻⁶).
    pub replicas: usize,
    /// Disjoint lookup paths d (S-Kademlia §4.4), 1 … 16. Default: 1. Raise (e.g. to 4)
    /// where adversaries are expected: a resolve then succeeds if any path avoids them.
    pub disjoint_paths: usize,
    /// Answers with valid CPAs each path needs before it ends. Default: 1; with disjoint
    /// paths 2 is recommended, so that one adversary holding an outdated version cannot
    /// end a path alone (the newest version seen wins).
    pub path_quorum: usize,
    /// Contacts asked for in a resolve's `FindName`. Default: 8: the closest few are what
    /// the next step uses, and 8 × 39 bytes keeps answers small. Bootstrap and refresh ask
    /// for k.
    pub resolve_contacts: u8,
    /// Contacts asked for by a registration round from nodes estimated among the 2r
    /// closest to the key (farther ones are asked for `resolve_contacts`). Default: 20 (k):
    /// to find the r closest nodes the answers near the key must be able to name all r (a
    /// node ranked 19th is in nobody's top 8).
    pub registration_contacts: u8,
    /// Contacts asked for in each `FindNode` of a bootstrap or neighbourhood lookup.
    /// Default: 10. The lookup merges many answers and converges on the k closest all
    /// the same; half-size answers halve the bytes of every (re)join, which dominate
    /// upkeep under churn (`proto-specs/pnrp.md` §9).
    pub bootstrap_contacts: u8,
    /// Requests per bucket refresh. Default: 4 = k / `per_referrer`: four answers from
    /// different nodes near the random target can fill the bucket within the referral
    /// limit; each asks for 2 × `per_referrer` contacts.
    pub refresh_requests: u32,
    /// Time after which an unanswered request counts as failed. Default: 1 s, [MS-PNRP]
    /// 3.1.2's retransmission timer (and the simulator's dial timeout).
    pub request_timeout: Duration,
    /// Granularity of request expiry: one timer per cloud expires every request whose
    /// timeout has passed, at most this often, so a request fails between
    /// `request_timeout` and `request_timeout + timeout_granularity` after it was sent.
    /// Default: 100 ms (a tenth of the timeout; one timer per node instead of one per
    /// request).
    pub timeout_granularity: Duration,
    /// Time after which an unanswered lookup request no longer holds one of the α slots.
    /// Default: 250 ms, 2.5× the largest round trip of the default simulated link (10–50 ms
    /// each way).
    pub stall_timeout: Duration,
    /// Replica-aware pacing of name lookups (`proto-specs/pnrp.md` §7.3). Default: on.
    pub pacing: bool,
    /// How long the least recently seen entry of a full bucket must have been quiet before
    /// a newcomer makes us ping it (Kademlia §2.2 pings it every time). Default: 5 min: an
    /// entry heard from within five minutes is very likely still up, and on a busy node
    /// every request from an unknown resolver would otherwise cost a ping; dead entries
    /// are also found by failed requests and the liveness tick.
    pub eviction_probe_after: Duration,
    /// Period of the maintenance tick (expiry sweep, refreshes, liveness). Default: 60 s.
    pub maintenance_interval: Duration,
    /// A bucket with no lookup into it for this long is refreshed; the neighbourhood is
    /// re-looked-up at the same period. Default: 15 min (Kademlia uses an hour; PNRP
    /// clouds churn faster).
    pub refresh_interval: Duration,
    /// First retry delay of a non-full bucket's refresh; doubles each time a refresh adds
    /// nothing, up to `refresh_interval`. Default: 60 s.
    pub sparse_refresh_interval: Duration,
    /// A table entry quiet for this long is pinged (one per tick, least recent first).
    /// Default: 10 min.
    pub liveness_interval: Duration,
    /// Return-routability pings in flight at once. Default: 4.
    pub rr_in_flight: usize,
    /// Contacts waiting for a return-routability check. Default: 64 (older ones drop).
    pub rr_queue: usize,
    /// Lookups running at once per cloud (resolves, registrations, maintenance); a resolve
    /// beyond it ends with `Busy`. Default: 128.
    pub max_lookups: usize,
    /// Requests in flight at once per cloud. Default: 1,024.
    pub max_requests: usize,
    /// Resolves waiting for a synchronising cloud. Default: 64.
    pub max_queued_resolves: usize,
    /// Registrations per node. Default: 256.
    pub max_registrations: usize,
    /// Lifetime given to new CPAs. Default: 24 h (within [MS-PNRP]'s 12 h … 7 days);
    /// re-signed at half-life.
    pub cpa_lifetime: Duration,
    /// Shortest interval between two upkeep rounds of a registration. Default: 60 s.
    pub republish_min: Duration,
    /// Longest interval between two upkeep rounds. Default: 30 min.
    pub republish_max: Duration,
    /// Most contacts of one bucket that one referrer's answers may bring in. Default: 5
    /// (k/4): a lying answer can take a quarter of a bucket, not all of it.
    pub per_referrer: usize,
    /// Limits of the CPA store.
    pub store: StoreLimits,
    /// IP diversity limits of the Global table; `None` disables them (loopback tests).
    /// The LinkLocal table never has them: every peer of a link shares its prefix.
    /// Default: `Some(SubnetLimits::default())`.
    pub subnet_limits: Option<SubnetLimits>,
    /// Signature checks remembered. Default: 64.
    pub verify_cache: usize,
    /// Seed nodes of the Global cloud. Default: none (the first node of a cloud is alone).
    pub seeds: Vec<PeerAddr>,
    /// Run the Global cloud. Default: true.
    pub global: bool,
    /// Run the LinkLocal cloud. Default: false (the driver enables it with discovery).
    pub link_local: bool,
    /// Delay before retrying a failed bootstrap; doubles up to `refresh_interval`.
    /// Default: 10 s.
    pub bootstrap_retry: Duration,
    /// Checks delegated registrations; `None` refuses them. Default: `None`.
    pub validator: Option<Arc<dyn DelegationValidator>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            k: 20,
            alpha: 3,
            replicas: 20,
            disjoint_paths: 1,
            path_quorum: 1,
            resolve_contacts: 8,
            registration_contacts: 20,
            bootstrap_contacts: 10,
            refresh_requests: 4,
            request_timeout: Duration::from_secs(1),
            timeout_granularity: Duration::from_millis(100),
            stall_timeout: Duration::from_millis(250),
            pacing: true,
            eviction_probe_after: Duration::from_secs(300),
            maintenance_interval: Duration::from_secs(60),
            refresh_interval: Duration::from_secs(15 * 60),
            sparse_refresh_interval: Duration::from_secs(60),
            liveness_interval: Duration::from_secs(10 * 60),
            rr_in_flight: 4,
            rr_queue: 64,
            max_lookups: 128,
            max_requests: 1024,
            max_queued_resolves: 64,
            max_registrations: 256,
            cpa_lifetime: Duration::from_secs(24 * 3600),
            republish_min: Duration::from_secs(60),
            republish_max: Duration::from_secs(30 * 60),
            per_referrer: 5,
            store: StoreLimits::default(),
            subnet_limits: Some(SubnetLimits::default()),
            verify_cache: 64,
            seeds: Vec::new(),
            global: true,
            link_local: false,
            bootstrap_retry: Duration::from_secs(10),
            validator: None,
        }
    }
}
