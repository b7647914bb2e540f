//! [`Counters`]: what a node saw and refused.

use serde::Serialize;

use crate::proto::cpa::CpaError;

/// Counters of what a node saw and refused; for tests, tools and the simulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Messages refused by [`Message::check`](crate::proto::Message::check).
    pub messages_rejected: u64,
    /// Messages for a cloud this node does not run.
    pub wrong_cloud: u64,
    /// Responses matching no request in flight (or of the wrong kind).
    pub unsolicited_responses: u64,
    /// Responses to requests of a lookup that had already ended.
    pub late_responses: u64,
    /// CPAs refused, for any reason.
    pub cpas_rejected: u64,
    /// CPAs refused as forgeries ([`CpaError::is_forgery`]).
    pub forged_cpas: u64,
    /// CPAs refused as expired.
    pub expired_cpas: u64,
    /// CPAs for another name than the one asked for.
    pub mismatched_cpas: u64,
    /// Ed25519 verifications actually run.
    pub signature_checks: u64,
    /// Verifications saved by the cache or by holding the exact CPA already.
    pub signature_checks_saved: u64,
    /// `Store`s accepted (new instance or newer version).
    pub stores_accepted: u64,
    /// `Store`s refused (invalid or full).
    pub stores_refused: u64,
    /// CPAs handed over to a new closer node.
    pub handovers: u64,
    /// Return-routability pings sent.
    pub rr_checks: u64,
    /// Contacts dropped for serving forged CPAs.
    pub contacts_punished: u64,
    /// Requests refused because too many were in flight.
    pub requests_refused: u64,
    /// Pings of a full bucket's least recently seen entry.
    pub eviction_probes: u64,
    /// Pings of quiet entries by the maintenance tick.
    pub liveness_pings: u64,
    /// Lookups started (all purposes).
    pub lookups: u64,
}

impl Counters {
    /// Adds `other` to `self`, field by field.
    pub fn add(&mut self, other: &Counters) {
        let Counters {
            messages_rejected,
            wrong_cloud,
            unsolicited_responses,
            late_responses,
            cpas_rejected,
            forged_cpas,
            expired_cpas,
            mismatched_cpas,
            signature_checks,
            signature_checks_saved,
            stores_accepted,
            stores_refused,
            handovers,
            rr_checks,
            contacts_punished,
            requests_refused,
            eviction_probes,
            liveness_pings,
            lookups,
        } = *other;
        self.messages_rejected += messages_rejected;
        self.wrong_cloud += wrong_cloud;
        self.unsolicited_responses += unsolicited_responses;
        self.late_responses += late_responses;
        self.cpas_rejected += cpas_rejected;
        self.forged_cpas += forged_cpas;
        self.expired_cpas += expired_cpas;
        self.mismatched_cpas += mismatched_cpas;
        self.signature_checks += signature_checks;
        self.signature_checks_saved += signature_checks_saved;
        self.stores_accepted += stores_accepted;
        self.stores_refused += stores_refused;
        self.handovers += handovers;
        self.rr_checks += rr_checks;
        self.contacts_punished += contacts_punished;
        self.requests_refused += requests_refused;
        self.eviction_probes += eviction_probes;
        self.liveness_pings += liveness_pings;
        self.lookups += lookups;
    }

    /// Counts a refused CPA by why it was refused.
    pub(crate) fn note_cpa_error(&mut self, e: &CpaError) {
        self.cpas_rejected += 1;
        if e.is_forgery() {
            self.forged_cpas += 1;
        } else if e.is_expired() {
            self.expired_cpas += 1;
        } else if matches!(e, CpaError::NameMismatch { .. }) {
            self.mismatched_cpas += 1;
        }
    }
}
