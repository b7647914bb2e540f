//! Times the password join (`group.md` §13): setting a password (one OPAQUE registration,
//! one Argon2id) and complete join exchanges, both sides in one process, key stretching
//! included. Run in release mode:
//!
//! ```text
//! cargo run --release -p peergroup-group --example password_join_time
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use peergroup_base::UnixTime;
use peergroup_group::password::{
    JoinerExchange, JoinerOutcome, PasswordInvitation, PasswordOptions, PasswordSetup,
    PasswordVerifier, SystemRng, VerifierExchange, VerifierOutcome,
};
use peergroup_group::{CreateOptions, GroupKey, create_group};
use peergroup_identity::Identity;

fn main() {
    let mut rng = SystemRng::new();
    let now = UnixTime::from_secs(1_800_000_000);
    let creator = Identity::from_seed([1; 32], "creator", "").unwrap();
    let group = create_group(
        &creator,
        GroupKey::from_seed([2; 32]).unwrap(),
        &CreateOptions::new("timing"),
        now,
        [[1; 16], [2; 16]],
    )
    .unwrap();
    let admin = group.creator.clone();
    let invitation = PasswordInvitation::new(group.name.clone(), "", "global").unwrap();
    let t = Instant::now();
    let setup = PasswordSetup::create(
        &admin,
        "hunter2 hunter2",
        &PasswordOptions::default(),
        now,
        &mut rng,
    )
    .unwrap();
    println!("set a password (OPAQUE registration, both roles): {:?}", t.elapsed());
    let mut verifier = PasswordVerifier::new(setup);
    let exporter = [7u8; 32];
    let mut times = Vec::new();
    for i in 0..5u8 {
        let joiner = Identity::from_seed([10 + i; 32], "joiner", "").unwrap();
        let t = Instant::now();
        let (mut j, start) =
            JoinerExchange::start(&invitation, &joiner, "hunter2 hunter2", &exporter, &mut rng)
                .unwrap();
        let mut v = VerifierExchange::new(joiner.node_id(), IpAddr::from([192, 0, 2, i]), exporter);
        let VerifierOutcome::Reply(challenge) =
            v.handle(&mut verifier, &admin, &start, now, &mut rng)
        else {
            panic!("no challenge")
        };
        let JoinerOutcome::Reply(finish) = j.handle(&challenge, now, &mut rng) else {
            panic!("no finish")
        };
        let VerifierOutcome::Admitted { reply, .. } =
            v.handle(&mut verifier, &admin, &finish, now, &mut rng)
        else {
            panic!("not admitted")
        };
        let JoinerOutcome::Joined(_) = j.handle(&reply, now, &mut rng) else {
            panic!("not joined")
        };
        times.push(t.elapsed());
    }
    times.sort();
    let total: Duration = times.iter().sum();
    println!(
        "one complete join exchange (both sides, Argon2id 19 MiB t=2 included): median {:?}, min {:?}, max {:?}, mean {:?}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        total / times.len() as u32
    );
}
