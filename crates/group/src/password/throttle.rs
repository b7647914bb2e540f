//! The verifier's state across connections (`group.md` §13.6): its password setup and the
//! limits on online guessing.
//!
//! Every attempt that receives a challenge is **charged** as a failure at once — from KE2
//! on, a joiner can test its guess offline — against the password (the lock counter), the
//! joiner's identity and its source address; it is **refunded** when the joiner proves
//! the password. An attempt is refused before any OPAQUE work while the password is locked
//! ([`MAX_FAILURES`] charges) or while the identity or the address is held off: after its
//! n-th charge, an identity (or address) may try again [`backoff_delay`]`(n)` after that
//! charge. Addresses are keyed by the IPv4 address or the IPv6 /64 prefix.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use peergroup_base::{NodeId, UnixTime};

use super::MAX_FAILURES;
use super::setup::PasswordSetup;
use crate::error::PasswordError;

/// Most entries of each backoff table (identities, addresses). When a table is full, the
/// entries whose last charge is more than [`FORGET_AFTER`] old are dropped, then the
/// oldest.
pub const MAX_THROTTLE_ENTRIES: usize = 1024;
/// A backoff entry is forgotten this long after its last charge: 24 hours.
pub const FORGET_AFTER: Duration = Duration::from_secs(86_400);
/// The first backoff step.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest backoff: one hour.
const BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// The hold-off after `charges` charged attempts: none for 0, then 1 s, 2 s, 4 s, …
/// doubling up to one hour.
pub fn backoff_delay(charges: u32) -> Duration {
    match charges {
        0 => Duration::ZERO,
        n => BACKOFF_BASE.saturating_mul(1u32 << (n - 1).min(20)).min(BACKOFF_MAX),
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    charges: u32,
    last: UnixTime,
}

impl Backoff {
    fn retry_at(&self) -> UnixTime {
        self.last.saturating_add(backoff_delay(self.charges))
    }
}

/// The address key of §13.6: IPv4 addresses whole, IPv6 addresses by their /64 prefix
/// (one host usually holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddrKey {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl AddrKey {
    fn of(a: IpAddr) -> AddrKey {
        match a {
            IpAddr::V4(v4) => AddrKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey::V4(v4.octets()),
                None => {
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&v6.octets()[..8]);
                    AddrKey::V6(p)
                }
            },
        }
    }
}

/// A bounded backoff table.
#[derive(Debug, Default)]
struct Table<K>(HashMap<K, Backoff>);

impl<K: std::hash::Hash + Eq + Copy> Table<K> {
    fn check(&self, k: &K, now: UnixTime) -> Result<(), Duration> {
        match self.0.get(k) {
            Some(b) if b.retry_at() > now => Err(b.retry_at().saturating_since(now)),
            _ => Ok(()),
        }
    }

    fn charge(&mut self, k: K, now: UnixTime) {
        if !self.0.contains_key(&k) && self.0.len() >= MAX_THROTTLE_ENTRIES {
            self.0.retain(|_, b| now.saturating_since(b.last) < FORGET_AFTER);
            if self.0.len() >= MAX_THROTTLE_ENTRIES
                && let Some(oldest) = self.0.iter().min_by_key(|(_, b)| b.last).map(|(k, _)| *k)
            {
                self.0.remove(&oldest);
            }
        }
        let e = self.0.entry(k).or_insert(Backoff { charges: 0, last: now });
        e.charges = e.charges.saturating_add(1);
        e.last = e.last.max(now);
    }

    fn refund(&mut self, k: &K, clear: bool) {
        if let Some(b) = self.0.get_mut(k) {
            b.charges = b.charges.saturating_sub(1);
            if clear || b.charges == 0 {
                self.0.remove(k);
            }
        }
    }
}

/// What a charge recorded, to refund it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Charge {
    identity: NodeId,
    address: AddrKey,
    password_id: [u8; 16],
}

impl Charge {
    /// The password the attempt was charged against.
    pub(crate) fn password_id(&self) -> &[u8; 16] {
        &self.password_id
    }
}

/// The verifier's state across connections: its [`PasswordSetup`] and the backoff
/// tables. One per group and verifier; every [`VerifierExchange`](super::VerifierExchange)
/// of the group runs against it. Save the setup ([`setup`](Self::setup)) after each
/// exchange step: its failure counter changes.
#[derive(Debug)]
pub struct PasswordVerifier {
    setup: PasswordSetup,
    identities: Table<NodeId>,
    addresses: Table<AddrKey>,
}

impl PasswordVerifier {
    /// A verifier for `setup` (as loaded: its failure counter carries over).
    pub fn new(setup: PasswordSetup) -> Self {
        PasswordVerifier {
            setup,
            identities: Table(HashMap::new()),
            addresses: Table(HashMap::new()),
        }
    }

    /// The setup, with its current failure counter (to save).
    pub fn setup(&self) -> &PasswordSetup {
        &self.setup
    }

    /// Replaces the password (a new setup): unlocks, clears the backoff tables. Exchanges
    /// still running for the old password fail with `Unavailable`.
    pub fn set_setup(&mut self, setup: PasswordSetup) {
        *self = PasswordVerifier::new(setup);
    }

    /// Whether the password is locked.
    pub fn is_locked(&self) -> bool {
        self.setup.is_locked()
    }

    /// The throttling checks of §13.6 for a new attempt: lock, then identity, then address.
    pub(crate) fn check(
        &self,
        identity: &NodeId,
        address: IpAddr,
        now: UnixTime,
    ) -> Result<(), PasswordError> {
        if self.setup.is_locked() {
            return Err(PasswordError::Locked { failures: self.setup.failures });
        }
        let wait = |d: Duration| PasswordError::Backoff {
            // Whole seconds on the wire: round up so that a retry at the time given passes.
            retry_after: Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)),
        };
        self.identities.check(identity, now).map_err(wait)?;
        self.addresses.check(&AddrKey::of(address), now).map_err(wait)?;
        Ok(())
    }

    /// Charges an attempt (after [`check`](Self::check) passed).
    pub(crate) fn charge(&mut self, identity: NodeId, address: IpAddr, now: UnixTime) -> Charge {
        let address = AddrKey::of(address);
        self.setup.failures = self.setup.failures.saturating_add(1).min(MAX_FAILURES);
        self.identities.charge(identity, now);
        self.addresses.charge(address, now);
        Charge { identity, address, password_id: self.setup.password_id }
    }

    /// Refunds a charge: the joiner proved the password (its identity's backoff is
    /// cleared), or the verifier could not finish for its own reasons.
    pub(crate) fn refund(&mut self, charge: &Charge) {
        if charge.password_id != self.setup.password_id {
            return; // charged against a password since replaced
        }
        self.setup.failures = self.setup.failures.saturating_sub(1);
        self.identities.refund(&charge.identity, true);
        self.addresses.refund(&charge.address, false);
    }

    /// Entries in the two backoff tables (identities, addresses), for tests and metrics.
    pub fn table_sizes(&self) -> (usize, usize) {
        (self.identities.0.len(), self.addresses.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_saturates() {
        assert_eq!(backoff_delay(0), Duration::ZERO);
        assert_eq!(backoff_delay(1), Duration::from_secs(1));
        assert_eq!(backoff_delay(4), Duration::from_secs(8));
        assert_eq!(backoff_delay(13), Duration::from_secs(3600));
        assert_eq!(backoff_delay(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn tables_stay_bounded() {
        let mut t: Table<u32> = Table(HashMap::new());
        for i in 0..(MAX_THROTTLE_ENTRIES as u32 + 50) {
            t.charge(i, UnixTime::from_millis(u64::from(i)));
        }
        assert_eq!(t.0.len(), MAX_THROTTLE_ENTRIES);
        assert!(!t.0.contains_key(&0), "the oldest entry went first");
    }

    #[test]
    fn ipv6_is_keyed_by_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddrKey::of(a), AddrKey::of(b));
        assert_ne!(AddrKey::of(a), AddrKey::of(c));
        let m: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(AddrKey::of(m), AddrKey::of("192.0.2.1".parse().unwrap()));
    }
}
