//! A node that was alone, first contacted by a newcomer (`pnrp.md` §5.4, §6.2): it runs its
//! self-lookup and a registration round at the newcomer at once, with the reasons and
//! contact counts the spec names.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use peergroup_base::{Input, Instant, Now, Outbox, Output, PeerAddr, PeerName, Protocol, UnixTime};
use peergroup_pnrp::proto::{
    Body, Cloud, Command, Config, Message, Pnrp, Reason, RegisterRequest, RegistrationId,
};

const T0: u64 = 1_767_225_600;

fn now(ms: u64) -> Now {
    Now { instant: Instant::from_micros(1_000_000 + ms * 1000), unix: UnixTime::from_secs(T0) }
}

#[test]
fn alone_node_looks_itself_up_and_registers_at_its_first_contact() {
    let s = common::signer(1);
    let me = PeerAddr { node: s.node_id(), addr: "10.0.0.1:3587".parse().unwrap() };
    let mut p = Pnrp::new(me, Config::default(), 7);
    let mut out = Outbox::new();
    p.handle(now(0), Input::Start, &mut out);
    let name = PeerName::new(s.authority(), peergroup_base::Classifier::new("svc").unwrap());
    let request = RegisterRequest::new(name.clone(), s, vec!["10.0.0.1:4000".parse().unwrap()]);
    p.handle(
        now(1),
        Input::Command(Command::Register { id: RegistrationId(1), request }),
        &mut out,
    );
    let _ = out.drain().count();

    // a newcomer (a pure client would do the same) asks for a name
    let newcomer =
        PeerAddr { node: common::signer(2).node_id(), addr: "10.0.0.2:3587".parse().unwrap() };
    let find = Body::FindName {
        txid: 1,
        p2p: name.p2p_id(),
        count: 8,
        max_results: 4,
        hint: None,
        probe: None,
        reason: Reason::Resolve,
    };
    p.handle(
        now(2),
        Input::Recv { from: newcomer, msg: Message { cloud: Cloud::Global, body: find } },
        &mut out,
    );
    let sent: Vec<Body> = out
        .drain()
        .filter_map(|o| match o {
            Output::Send { to, msg } if to == newcomer => Some(msg.body),
            _ => None,
        })
        .collect();
    // 1. the answer
    assert!(sent.iter().any(|b| matches!(b, Body::Found { txid: 1, .. })), "{sent:?}");
    // 2. the self-lookup of §5.4: FindNode for its own id, 10 contacts, Maintenance
    assert!(
        sent.iter().any(|b| matches!(b,
            Body::FindNode { target, count: 10, reason: Reason::Maintenance, .. }
                if target.0 == me.node.0)),
        "{sent:?}"
    );
    // 3. a registration round (§6.2): FindName probing its instance, max_results 0, and
    //    20 contacts asked (the newcomer is certainly among the 2r closest)
    assert!(
        sent.iter().any(|b| matches!(
            b,
            Body::FindName {
                count: 20,
                max_results: 0,
                probe: Some(_),
                reason: Reason::Registration,
                ..
            }
        )),
        "{sent:?}"
    );
}
