//! A hostile node for the simulator (`proto-specs/pnrp.md` §10).
//!
//! An [`Adversary`] joins a cloud like any node (its own lookups are honest, so it gets
//! into routing tables), but when others ask it something it lies:
//!
//! * **routing**: `FindNode` and `FindName` are answered with the members of its
//!   coalition closest to the target — every adversary knows every other, the strongest
//!   collusion — to pull lookups into a region only adversaries answer;
//! * **forged CPAs**: every `FindName` for a name it knows (the simulator gives it the list
//!   of registered names) gets CPAs for that name signed with the adversary's own key
//!   (wrong authority), an expired one, and — once it has seen a genuine CPA of the name as
//!   a replica — a copy with its own endpoints spliced in under the original signature;
//! * **stale CPAs**: it keeps every version of every CPA stored at it and serves the
//!   oldest, so a resolver that stopped at its answer would get superseded endpoints;
//! * **registration**: it acknowledges every `Store` and claims to hold every probed
//!   instance at the highest possible version, so registrants skip it.
//!
//! None of this can make an honest node accept a CPA its owner did not sign: the checks of
//! [`SignedCpa::verify`](crate::proto::cpa::SignedCpa::verify) catch forgeries, and
//! disjoint paths route around the coalition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use peergroup_base::{Now, P2pId, PeerAddr, PeerName};

use crate::proto::cpa::{CPA_FORMAT, CpaBody, CpaSigner, SignedCpa};
use crate::proto::key::{Distance, Key};
use crate::proto::message::{Body, MAX_FOUND_CPA_BYTES, MAX_RESULTS, StoreStatus};

/// Names the simulator tells adversaries about, by P2P ID.
pub type NameOracle = Arc<BTreeMap<P2pId, PeerName>>;

/// Most keys whose CPAs an adversary keeps, and versions per key.
const HELD_KEYS: usize = 1024;
const HELD_VERSIONS: usize = 4;
/// Most names whose forgeries it caches.
const FORGED_NAMES: usize = 256;

/// The lying behaviour of a simulated adversarial node.
#[derive(Debug)]
pub struct Adversary {
    me: PeerAddr,
    signer: CpaSigner,
    coalition: Arc<Vec<PeerAddr>>,
    names: NameOracle,
    held: BTreeMap<Key, Vec<SignedCpa>>,
    forged: BTreeMap<P2pId, Vec<SignedCpa>>,
}

impl Adversary {
    /// An adversary at `me` signing with `signer`, colluding with `coalition` (which may
    /// include itself) and knowing the names in `names`.
    pub fn new(
        me: PeerAddr,
        signer: CpaSigner,
        coalition: Arc<Vec<PeerAddr>>,
        names: NameOracle,
    ) -> Self {
        Adversary { me, signer, coalition, names, held: BTreeMap::new(), forged: BTreeMap::new() }
    }

    fn coalition_closest(&self, target: &Key, n: usize, exclude: &PeerAddr) -> Vec<PeerAddr> {
        let mut v: Vec<(Distance, PeerAddr)> = self
            .coalition
            .iter()
            .filter(|p| p.node != exclude.node && p.node != self.me.node)
            .map(|p| (target.distance(&Key(p.node.0)), *p))
            .collect();
        if v.len() > n {
            v.select_nth_unstable_by(n, |a, b| a.0.cmp(&b.0));
            v.truncate(n);
        }
        v.sort_unstable_by_key(|a| a.0);
        v.into_iter().map(|(_, p)| p).collect()
    }

    fn forgeries(&mut self, p2p: &P2pId, now: Now) -> Vec<SignedCpa> {
        if let Some(f) = self.forged.get(p2p) {
            return f.clone();
        }
        let name = match self.names.get(p2p) {
            Some(n) => n.clone(),
            // Unknown name: a CPA for another name (refused as a name mismatch).
            None => PeerName::new(self.signer.authority(), decoy_classifier()),
        };
        let body = |not_after| CpaBody {
            format: CPA_FORMAT,
            name: name.clone(),
            location: peergroup_base::ServiceLocation::new(0, 0x0bad),
            sequence: u64::MAX / 2,
            not_after,
            revoked: false,
            endpoints: vec![self.me.addr],
            comment: "forged".into(),
            payload: None,
            signer: self.signer.public_key(),
            delegation: None,
        };
        let day = now.unix.saturating_add(Duration::from_secs(86_400));
        let past =
            peergroup_base::UnixTime::from_millis(now.unix.as_millis().saturating_sub(3_600_000));
        let out =
            vec![body(day).sign_unchecked(&self.signer), body(past).sign_unchecked(&self.signer)];
        if self.forged.len() >= FORGED_NAMES {
            self.forged.pop_first();
        }
        self.forged.insert(*p2p, out.clone());
        out
    }

    /// A genuine CPA with our endpoints spliced in under its original signature.
    fn tampered(&self, genuine: &SignedCpa) -> Option<SignedCpa> {
        let mut body: CpaBody = postcard::from_bytes(&genuine.body).ok()?;
        body.endpoints = vec![self.me.addr];
        body.sequence = body.sequence.saturating_add(1);
        let bytes = postcard::to_allocvec(&body).ok()?;
        Some(SignedCpa { body: bytes, signature: genuine.signature })
    }

    /// The adversary's answer to a request (it never refuses to answer).
    pub(crate) fn answer(&mut self, from: PeerAddr, body: Body, now: Now) -> Option<Body> {
        match body {
            Body::Ping { nonce } => Some(Body::Pong { nonce }),
            Body::FindNode { txid, target, count, .. } => {
                let nodes = self.coalition_closest(&target, usize::from(count), &from);
                Some(Body::Nodes { txid, nodes })
            }
            Body::FindName { txid, p2p, count, max_results, probe, .. } => {
                let key = Key::of_name(&p2p);
                let nodes = self.coalition_closest(&key, usize::from(count), &from);
                let mut cpas = Vec::new();
                if max_results > 0 {
                    cpas = self.forgeries(&p2p, now);
                    if let Some(versions) = self.held.get(&key) {
                        // the oldest version held (stale), and a tampered newest one
                        if let Some(oldest) = versions.first() {
                            cpas.push(oldest.clone());
                        }
                        if let Some(t) = versions.last().and_then(|v| self.tampered(v)) {
                            cpas.push(t);
                        }
                    }
                    cpas.truncate(MAX_RESULTS);
                    let mut total = 0;
                    cpas.retain(|c| {
                        total += c.body.len();
                        total <= MAX_FOUND_CPA_BYTES
                    });
                }
                let holds = probe.map(|_| u64::MAX);
                Some(Body::Found { txid, nodes, cpas, holds })
            }
            Body::Store { txid, cpa } => {
                if let Ok(b) = postcard::from_bytes::<CpaBody>(&cpa.body) {
                    let key = Key::of_name(&b.name.p2p_id());
                    if !self.held.contains_key(&key) && self.held.len() >= HELD_KEYS {
                        self.held.pop_first();
                    }
                    let versions = self.held.entry(key).or_default();
                    if versions.len() < HELD_VERSIONS && !versions.contains(&cpa) {
                        versions.push(cpa);
                    }
                }
                Some(Body::StoreAck { txid, status: StoreStatus::Stored })
            }
            _ => None,
        }
    }
}

fn decoy_classifier() -> peergroup_base::Classifier {
    // Invariant: "decoy" is a valid classifier (five ASCII letters).
    #[allow(clippy::expect_used)]
    peergroup_base::Classifier::new("decoy").expect("a valid classifier")
}
