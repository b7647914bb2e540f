//! The rest of an attempt: receiving symbols and key lists, decoding, `Decoded` and its
//! confirmation, and the checks of `proto-specs/reconcile.md` §8.3.

use super::{Attempt, Outcome, Peer, Phase, Role, Session, State};
use crate::config::{Config, MIN_MESSAGE_BYTES};
use crate::digest::Digest;
use crate::error::Error;
use crate::message::{KEY_BYTES, Key, Message, SYMBOL_BYTES, Symbol};
use crate::plan;
use crate::riblt::Cell;
use crate::table::{KeyTable, item_hash};

impl Session {
    pub(super) fn on_active(
        &mut self,
        mut a: Box<Attempt>,
        phase: Phase,
        message: Message,
    ) -> Result<State, Error> {
        let role = self.role;
        match (phase, message) {
            (Phase::AwaitReply, Message::Reply(reply)) => {
                check_peer_params(&self.config, reply.items, reply.max_message_bytes)?;
                a.peer = Peer {
                    items: reply.items,
                    fingerprint: reply.fingerprint.into(),
                    max_message_bytes: reply.max_message_bytes as usize,
                };
                a.phase = Phase::AwaitAnnouncement;
                Ok(State::Active(a))
            }
            (
                Phase::AwaitAnnouncement | Phase::AwaitDecoderReply | Phase::AwaitDecoded,
                Message::Decoded { yours, mine },
            ) => {
                if yours > a.table.len() as u64 {
                    return Err(Error::CountOutOfRange {
                        what: "Decoded.yours",
                        count: yours,
                        max: a.table.len() as u64,
                    });
                }
                if mine > a.peer.items {
                    return Err(Error::CountOutOfRange {
                        what: "Decoded.mine",
                        count: mine,
                        max: a.peer.items,
                    });
                }
                self.received_decoded(a, yours, mine, Vec::new(), Vec::new())
            }
            (
                Phase::AwaitAnnouncement | Phase::AwaitMoreSymbols,
                Message::SymbolsFollow { count },
            ) if role == Role::Initiator => {
                let have = a.decoder.len();
                if count == 0 {
                    return Err(Error::CountOutOfRange {
                        what: "SymbolsFollow.count",
                        count,
                        max: 0,
                    });
                }
                let total = have.saturating_add(count);
                if total > self.config.max_symbols {
                    return Err(Error::TooManySymbols {
                        count: total,
                        max: self.config.max_symbols,
                    });
                }
                a.ensure_own(total);
                a.phase = Phase::ReceivingSymbols { remaining: count };
                Ok(State::Active(a))
            }
            (
                Phase::AwaitAnnouncement | Phase::AwaitMoreSymbols | Phase::AwaitKeys,
                Message::KeysFollow { count },
            ) => {
                if count != a.peer.items {
                    return Err(Error::CountOutOfRange {
                        what: "KeysFollow.count",
                        count,
                        max: a.peer.items,
                    });
                }
                self.received_keys(a, count, Vec::new())
            }
            (Phase::AwaitAnnouncement | Phase::AwaitDecoderReply, Message::RequestKeys) => {
                self.send_key_list(&a);
                a.phase = Phase::AwaitDecoded;
                Ok(State::Active(a))
            }
            (Phase::AwaitDecoderReply, Message::RequestSymbols { count })
                if role == Role::Responder =>
            {
                if count == 0 {
                    return Err(Error::CountOutOfRange {
                        what: "RequestSymbols.count",
                        count,
                        max: 0,
                    });
                }
                if a.symbols_sent.saturating_add(count) > self.config.max_symbols {
                    // Past our symbol budget: the whole key list is the answer instead.
                    self.send_key_list(&a);
                } else {
                    self.send_symbols(&mut a, count);
                }
                a.phase = Phase::AwaitDecoderReply;
                Ok(State::Active(a))
            }
            (Phase::ReceivingSymbols { remaining }, Message::Symbols { first, symbols }) => {
                self.received_symbols(a, remaining, first, &symbols)
            }
            (Phase::ReceivingKeys { remaining, mut keys }, Message::Keys(list)) => {
                append_sorted_keys(&mut keys, &list, remaining, "Keys")?;
                let remaining = remaining - list.len() as u64;
                self.received_keys(a, remaining, keys)
            }
            (
                Phase::ReceivingDecoded { keys_remaining, digests_remaining, mut keys, digests },
                Message::Keys(list),
            ) if keys_remaining > 0 => {
                append_sorted_keys(&mut keys, &list, keys_remaining, "Keys")?;
                let keys_remaining = keys_remaining - list.len() as u64;
                self.received_decoded(a, keys_remaining, digests_remaining, keys, digests)
            }
            (
                Phase::ReceivingDecoded { keys_remaining: 0, digests_remaining, keys, mut digests },
                Message::Digests(list),
            ) => {
                check_list_len(list.len(), digests_remaining, "Digests")?;
                for digest in &list {
                    if digests.last().is_some_and(|last| last >= digest) {
                        return Err(Error::DigestsNotSorted);
                    }
                    digests.push(*digest);
                }
                let digests_remaining = digests_remaining - list.len() as u64;
                self.received_decoded(a, 0, digests_remaining, keys, digests)
            }
            (
                Phase::AwaitConfirm { requested, mut received, local_only, local_terms },
                Message::Digests(list),
            ) => {
                let remaining = (requested.len() - received.len()) as u64;
                check_list_len(list.len(), remaining, "Digests")?;
                for digest in list {
                    let index = received.len();
                    let h = item_hash(&a.salt, a.number, &self.config.test_hooks, &digest);
                    if h.key != requested[index] {
                        return Err(Error::ConfirmMismatch { index: index as u64 });
                    }
                    received.push((digest, h.term));
                }
                if received.len() < requested.len() {
                    a.phase = Phase::AwaitConfirm { requested, received, local_only, local_terms };
                    return Ok(State::Active(a));
                }
                let remote_terms = received.iter().fold(0u64, |s, (_, t)| s.wrapping_add(*t));
                if a.table.fingerprint().wrapping_sub(local_terms)
                    != a.peer.fingerprint.wrapping_sub(remote_terms)
                {
                    return Err(Error::FingerprintMismatch);
                }
                let mut remote_only: Vec<Digest> = received.into_iter().map(|(d, _)| d).collect();
                remote_only.sort_unstable();
                Ok(self.finish(local_only, remote_only))
            }
            (phase, message) => {
                Err(Error::UnexpectedMessage { expected: phase.expects(), got: message.name() })
            }
        }
    }

    /// Initiator: a batch of the responder's coded symbols.
    pub(super) fn received_symbols(
        &mut self,
        mut a: Box<Attempt>,
        remaining: u64,
        first: u64,
        symbols: &[Symbol],
    ) -> Result<State, Error> {
        check_list_len(symbols.len(), remaining, "Symbols")?;
        let expected = a.decoder.len();
        if first != expected {
            return Err(Error::SymbolOutOfOrder { expected, got: first });
        }
        self.stats.symbols_received += symbols.len() as u64;
        // `ensure_own` covered the whole announced flight when it was announced.
        let own = &a.own[first as usize..first as usize + symbols.len()];
        let diff: Vec<Cell> =
            symbols.iter().zip(own).map(|(&s, &o)| Cell::from(s).minus(o)).collect();
        let table = &a.table;
        a.decoder.extend(diff, |key| table.contains(key));
        let remaining = remaining - symbols.len() as u64;
        if remaining > 0 {
            a.phase = Phase::ReceivingSymbols { remaining };
            return Ok(State::Active(a));
        }
        if a.decoder.is_decoded() {
            let (remote, local) = a.decoder.keys();
            return self.finish_decoding(a, remote, local);
        }
        let have = a.decoder.len();
        let more = plan::more(have);
        let keys_cheaper = a.peer.items * (KEY_BYTES as u64) <= more * SYMBOL_BYTES as u64;
        if keys_cheaper || have + more > self.config.max_symbols {
            self.send(&Message::RequestKeys);
            a.phase = Phase::AwaitKeys;
        } else {
            self.send(&Message::RequestSymbols { count: more });
            a.phase = Phase::AwaitMoreSymbols;
        }
        Ok(State::Active(a))
    }

    /// The peer's key list, complete when `remaining` is 0.
    pub(super) fn received_keys(
        &mut self,
        mut a: Box<Attempt>,
        remaining: u64,
        keys: Vec<u64>,
    ) -> Result<State, Error> {
        if remaining > 0 {
            a.phase = Phase::ReceivingKeys { remaining, keys };
            return Ok(State::Active(a));
        }
        let (remote, local) = diff_keys(&a.table, &keys);
        self.finish_decoding(a, remote, local)
    }

    /// We decoded the difference as keys: tell the peer and ask for the digests we lack.
    pub(super) fn finish_decoding(
        &mut self,
        mut a: Box<Attempt>,
        mut remote: Vec<u64>,
        local: Vec<u64>,
    ) -> Result<State, Error> {
        let mut local_only = Vec::with_capacity(local.len());
        let mut local_terms = 0u64;
        for key in local {
            let Some(entry) = a.table.find(key) else {
                // The decoder only peels local keys it found in the table; a miss means
                // the decode is wrong, and a new salt is the way out.
                return self.restart(a);
            };
            local_only.push(a.table.digest(entry));
            local_terms = local_terms.wrapping_add(entry.term);
        }
        local_only.sort_unstable();
        remote.sort_unstable();
        let cap = a.send_cap(&self.config);
        if remote.is_empty() {
            // We know both sides' items: check the fingerprints now.
            if a.table.fingerprint().wrapping_sub(local_terms) != a.peer.fingerprint {
                return self.restart(a);
            }
            self.send(&Message::Decoded { yours: 0, mine: local_only.len() as u64 });
            self.send_digests(&local_only, cap);
            return Ok(self.finish(local_only, Vec::new()));
        }
        self.send(&Message::Decoded { yours: remote.len() as u64, mine: local_only.len() as u64 });
        self.send_keys(&remote, cap);
        self.send_digests(&local_only, cap);
        a.phase = Phase::AwaitConfirm {
            requested: remote,
            received: Vec::new(),
            local_only,
            local_terms,
        };
        Ok(State::Active(a))
    }

    /// The peer decoded: `keys` are our items it lacks, `digests` its items we lack.
    pub(super) fn received_decoded(
        &mut self,
        mut a: Box<Attempt>,
        keys_remaining: u64,
        digests_remaining: u64,
        keys: Vec<u64>,
        digests: Vec<Digest>,
    ) -> Result<State, Error> {
        if keys_remaining > 0 || digests_remaining > 0 {
            a.phase = Phase::ReceivingDecoded { keys_remaining, digests_remaining, keys, digests };
            return Ok(State::Active(a));
        }
        // With nothing to confirm (`yours = 0`) the decoder checked the fingerprints before
        // it sent `Decoded` and has finished: a failed check here means a faulty peer, and
        // a restart would reach a finished session (§8.3).
        let nothing_to_confirm = keys.is_empty();
        let mut ours = Vec::with_capacity(keys.len());
        let mut our_terms = 0u64;
        for key in keys {
            let Some(entry) = a.table.find(key) else {
                // A key we do not have: a wrong decode (or a colliding peer); retry.
                return self.restart(a);
            };
            ours.push(a.table.digest(entry));
            our_terms = our_terms.wrapping_add(entry.term);
        }
        let mut their_terms = 0u64;
        for digest in &digests {
            let h = item_hash(&a.salt, a.number, &self.config.test_hooks, digest);
            if a.table.contains(h.key) {
                // We hold that key, so the peer's item is ours or collides with one of ours.
                if nothing_to_confirm {
                    return Err(Error::InconsistentDecoded);
                }
                return self.restart(a);
            }
            their_terms = their_terms.wrapping_add(h.term);
        }
        if a.table.fingerprint().wrapping_sub(our_terms)
            != a.peer.fingerprint.wrapping_sub(their_terms)
        {
            if nothing_to_confirm {
                return Err(Error::InconsistentDecoded);
            }
            return self.restart(a);
        }
        // `ours` is in the order of the requested keys, as the confirmation must be.
        self.send_digests(&ours, a.send_cap(&self.config));
        ours.sort_unstable();
        Ok(self.finish(ours, digests))
    }

    pub(super) fn finish(&mut self, local_only: Vec<Digest>, remote_only: Vec<Digest>) -> State {
        self.outcome = Some(Outcome { local_only, remote_only });
        State::Finished
    }
}

/// Checks what a peer announces about itself.
pub(super) fn check_peer_params(
    config: &Config,
    items: u64,
    max_message_bytes: u32,
) -> Result<(), Error> {
    if items > config.max_set_len {
        return Err(Error::SetTooLarge { len: items, max: config.max_set_len });
    }
    if (max_message_bytes as usize) < MIN_MESSAGE_BYTES {
        return Err(Error::CountOutOfRange {
            what: "max_message_bytes below the minimum",
            count: u64::from(max_message_bytes),
            max: MIN_MESSAGE_BYTES as u64,
        });
    }
    Ok(())
}

/// A list message must carry at least one element and no more than announced.
fn check_list_len(len: usize, remaining: u64, what: &'static str) -> Result<(), Error> {
    if len == 0 || len as u64 > remaining {
        return Err(Error::CountOutOfRange { what, count: len as u64, max: remaining });
    }
    Ok(())
}

/// Appends a batch to a strictly ascending key list, checking order across batches.
fn append_sorted_keys(
    keys: &mut Vec<u64>,
    list: &[Key],
    remaining: u64,
    what: &'static str,
) -> Result<(), Error> {
    check_list_len(list.len(), remaining, what)?;
    let mut previous = keys.last().copied();
    for key in list {
        let key = u64::from(*key);
        if previous.is_some_and(|p| p >= key) {
            return Err(Error::KeysNotSorted);
        }
        keys.push(key);
        previous = Some(key);
    }
    Ok(())
}

/// The difference between our table and the peer's full, ascending key list:
/// (the peer's keys we lack, our keys the peer lacks).
pub(super) fn diff_keys(table: &KeyTable, theirs: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let ours = table.entries();
    let (mut i, mut j) = (0, 0);
    let (mut remote, mut local) = (Vec::new(), Vec::new());
    while i < ours.len() && j < theirs.len() {
        match ours[i].key.cmp(&theirs[j]) {
            std::cmp::Ordering::Less => {
                local.push(ours[i].key);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                remote.push(theirs[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    local.extend(ours[i..].iter().map(|e| e.key));
    remote.extend_from_slice(&theirs[j..]);
    (remote, local)
}
