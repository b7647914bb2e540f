//! Opening an attempt: the initiator's `Hello`, the responder's answer to it, and
//! restarts (`proto-specs/reconcile.md` §6.1–§6.3, §7.1, §7.2, §8.3).

use super::{Attempt, Peer, Phase, Role, Session, State};
use crate::config::MIN_MESSAGE_BYTES;
use crate::error::Error;
use crate::hash::next_salt;
use crate::message::{
    Fingerprint, Hello, KEY_BYTES, Key, Message, Opening, PROTOCOL_VERSION, Reply, SYMBOL_BYTES,
    Symbol,
};
use crate::plan::{self, Choice};
use crate::riblt::{Cell, Decoder, Encoder};
use crate::sketch::{SKETCH_BYTES, Sketch};
use crate::table::{KeyTable, LocalCollision};

use super::flow::{check_peer_params, diff_keys};

/// Bytes of a `Hello` besides its sketch, probe or key list (fields at their widest).
const HELLO_OVERHEAD: usize = 64;

impl Session {
    /// Initiator: starts attempt `from` (or the first later one without a local key
    /// collision) and queues its `Hello`.
    pub(super) fn start_attempt(&mut self, from: u8) -> Result<State, Error> {
        let mut number = from;
        let table = loop {
            if number >= self.config.max_attempts {
                return Err(Error::TooManyAttempts(self.config.max_attempts));
            }
            if number > 0 {
                self.salt = next_salt(&self.salt);
            }
            match KeyTable::build(&self.set, &self.salt, number, &self.config.test_hooks) {
                Ok(table) => break table,
                Err(LocalCollision) => number += 1,
            }
        };
        self.attempt_number = Some(number);
        self.stats.attempts = number + 1;

        let items = table.len();
        let probe = self
            .config
            .probe_symbols
            .min((MIN_MESSAGE_BYTES - HELLO_OVERHEAD - SKETCH_BYTES) / SYMBOL_BYTES);
        let sketch_bytes = SKETCH_BYTES + probe * SYMBOL_BYTES;
        let mut a = Attempt {
            number,
            salt: self.salt,
            encoder: Encoder::new(table.entries().iter().map(|e| e.key)),
            table,
            own: Vec::new(),
            decoder: Decoder::default(),
            symbols_sent: 0,
            // Until the Reply, only the Hello is sent, within MIN_MESSAGE_BYTES.
            peer: Peer { items: 0, fingerprint: 0, max_message_bytes: MIN_MESSAGE_BYTES },
            phase: Phase::AwaitReply,
        };
        let opening = if items * KEY_BYTES <= sketch_bytes {
            Opening::Keys(a.table.entries().iter().map(|e| Key::from(e.key)).collect())
        } else {
            a.ensure_own(probe as u64);
            self.stats.symbols_sent += probe as u64;
            Opening::Sketch {
                sketch: serde_bytes::ByteBuf::from(a.table.sketch().as_bytes().to_vec()),
                probe: a.own.iter().map(|&c| Symbol::from(c)).collect(),
            }
        };
        self.send(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            attempt: number,
            salt: self.salt,
            max_message_bytes: self.config.max_message_bytes as u32,
            items: items as u64,
            fingerprint: Fingerprint::from(a.table.fingerprint()),
            opening,
        }));
        Ok(State::Active(Box::new(a)))
    }

    /// Abandons the attempt after a collision or a failed check: the initiator starts the
    /// next one, the responder asks for it.
    pub(super) fn restart(&mut self, a: Box<Attempt>) -> Result<State, Error> {
        match self.role {
            Role::Initiator => self.start_attempt(a.number + 1),
            Role::Responder => {
                if a.number + 1 >= self.config.max_attempts {
                    return Err(Error::TooManyAttempts(self.config.max_attempts));
                }
                self.send(&Message::Restart);
                Ok(State::AwaitHello)
            }
        }
    }

    /// Responder: a `Hello`, first or after a restart.
    pub(super) fn on_hello(&mut self, hello: Hello) -> Result<State, Error> {
        if hello.version != PROTOCOL_VERSION {
            return Err(Error::UnsupportedVersion(hello.version));
        }
        if let Some(last) = self.attempt_number
            && hello.attempt <= last
        {
            return Err(Error::BadAttempt { current: last, got: hello.attempt });
        }
        if hello.attempt >= self.config.max_attempts {
            return Err(Error::TooManyAttempts(self.config.max_attempts));
        }
        check_peer_params(&self.config, hello.items, hello.max_message_bytes)?;
        let peer = Peer {
            items: hello.items,
            fingerprint: hello.fingerprint.into(),
            max_message_bytes: hello.max_message_bytes as usize,
        };
        match &hello.opening {
            Opening::Sketch { sketch, probe } => {
                if sketch.len() != SKETCH_BYTES {
                    return Err(Error::BadSketch { len: sketch.len(), expected: SKETCH_BYTES });
                }
                if probe.len() as u64 > self.config.max_symbols {
                    return Err(Error::TooManySymbols {
                        count: probe.len() as u64,
                        max: self.config.max_symbols,
                    });
                }
            }
            Opening::Keys(keys) => {
                if keys.len() as u64 != hello.items {
                    return Err(Error::CountOutOfRange {
                        what: "Hello key list",
                        count: keys.len() as u64,
                        max: hello.items,
                    });
                }
                if !keys.windows(2).all(|w| w[0] < w[1]) {
                    return Err(Error::KeysNotSorted);
                }
            }
        }
        self.attempt_number = Some(hello.attempt);
        self.stats.attempts = hello.attempt + 1;
        let table =
            match KeyTable::build(&self.set, &hello.salt, hello.attempt, &self.config.test_hooks) {
                Ok(table) => table,
                Err(LocalCollision) => {
                    if hello.attempt + 1 >= self.config.max_attempts {
                        return Err(Error::TooManyAttempts(self.config.max_attempts));
                    }
                    self.send(&Message::Restart);
                    return Ok(State::AwaitHello);
                }
            };
        let mut a = Box::new(Attempt {
            number: hello.attempt,
            salt: hello.salt,
            encoder: Encoder::new(table.entries().iter().map(|e| e.key)),
            table,
            own: Vec::new(),
            decoder: Decoder::default(),
            symbols_sent: 0,
            peer,
            phase: Phase::AwaitDecoderReply,
        });
        self.send(&Message::Reply(Reply {
            max_message_bytes: self.config.max_message_bytes as u32,
            items: a.table.len() as u64,
            fingerprint: Fingerprint::from(a.table.fingerprint()),
        }));
        match hello.opening {
            Opening::Keys(keys) => {
                let keys: Vec<u64> = keys.into_iter().map(u64::from).collect();
                let (remote, local) = diff_keys(&a.table, &keys);
                self.finish_decoding(a, remote, local)
            }
            Opening::Sketch { sketch, probe } => {
                self.stats.symbols_received += probe.len() as u64;
                a.ensure_own(probe.len() as u64);
                let diff: Vec<Cell> =
                    probe.iter().zip(&a.own).map(|(&p, &o)| Cell::from(p).minus(o)).collect();
                let table = &a.table;
                a.decoder.extend(diff, |key| table.contains(key));
                if a.decoder.is_decoded() {
                    let (remote, local) = a.decoder.keys();
                    return self.finish_decoding(a, remote, local);
                }
                let theirs = Sketch::from_bytes(&sketch)?;
                let max = (a.peer.items + a.table.len() as u64) as f64;
                let estimate = theirs.xor(&a.table.sketch()).estimate(max);
                self.stats.estimated_difference = Some(estimate);
                let budget = match self.config.test_hooks.first_batch {
                    Some(forced) => forced.max(1),
                    None => plan::first_batch(estimate, probe.len() as u64),
                };
                match plan::choose(
                    budget,
                    self.config.max_symbols,
                    a.table.len() as u64,
                    a.peer.items,
                ) {
                    Choice::Symbols(count) => self.send_symbols(&mut a, count),
                    Choice::OurKeys => self.send_key_list(&a),
                    Choice::TheirKeys => {
                        self.send(&Message::RequestKeys);
                        a.phase = Phase::AwaitKeys;
                        return Ok(State::Active(a));
                    }
                }
                a.phase = Phase::AwaitDecoderReply;
                Ok(State::Active(a))
            }
        }
    }
}
