//! Crashed nodes hear nothing; restarted nodes start fresh; churn follows its distribution.

use crate::common;

use std::time::Duration;

use peergroup_base::Instant;
use peergroup_sim::testproto::{self, Command, Event, FloodConfig, FloodNode};
use peergroup_sim::{Churn, ChurnNodes, Dist, Sim, SimConfig};

fn ms(n: u64) -> Instant {
    Instant::from_micros(n * 1000)
}

#[test]
fn crashed_node_receives_nothing_and_senders_get_peer_down() {
    let (mut sim, nodes, _) = common::flood_sim(31, 3, 2, common::lan());
    let (a, b) = (nodes[0], nodes[1]);
    let b_addr = sim.peer_addr(b).expect("exists");
    sim.run_for(Duration::from_millis(1)).expect("no invariants"); // deliver Start
    assert!(sim.crash(b));
    assert!(!sim.crash(b), "already down");
    assert!(!sim.is_up(b));
    assert!(sim.node_state(b).is_none(), "state dropped at once");

    sim.command(a, Command::Ping(b_addr));
    sim.command(a, Command::Publish(9)); // floods towards b as well
    sim.run_for(Duration::from_secs(3)).expect("no invariants");
    assert_eq!(sim.node_stats(b).received, 0, "nothing reaches a crashed node");
    let downs: Vec<_> = common::peer_downs(sim.events())
        .into_iter()
        .filter(|(n, _, p)| *n == a && *p == b_addr)
        .collect();
    assert_eq!(downs.len(), 2, "one PeerDown per message sent to the dead node");
    assert!(downs.iter().all(|(_, at, _)| *at == ms(1001)));
    assert_eq!(sim.stats().dropped_dead, 3, "ping, a's rumor copy and c's rumor copy");
    assert_eq!(sim.stats().crashes, 1);
}

#[test]
fn restart_builds_a_fresh_state_and_delivers_start() {
    let (mut sim, nodes, _) = common::flood_sim(32, 3, 2, common::lan());
    let b = nodes[1];
    sim.command(nodes[0], Command::Publish(1));
    sim.run_until_idle(1000).expect("no invariants");
    assert!(sim.node_state(b).expect("up").has_seen(1));
    sim.drain_events();

    sim.restart(b); // a reboot: crash + restart
    assert_eq!(sim.incarnation(b), Some(1));
    let fresh = sim.node_state(b).expect("up again");
    assert_eq!((fresh.seen_count(), fresh.starts()), (0, 1), "a new state that got Start");
    let started: Vec<_> = sim.events().iter().filter(|e| e.event == Event::Started).collect();
    assert_eq!(started.len(), 1);
    assert_eq!((started[0].node, started[0].at), (b, sim.now()));
    assert_eq!((sim.stats().crashes, sim.stats().restarts), (1, 1));

    // The fresh node takes part in new floods.
    sim.command(nodes[0], Command::Publish(2));
    sim.run_until_idle(1000).expect("no invariants");
    assert!(sim.node_state(b).expect("up").has_seen(2));
    assert!(!sim.node_state(b).expect("up").has_seen(1));
}

#[test]
fn start_comes_before_commands_queued_for_a_restarted_node() {
    let (mut sim, nodes, _) = common::flood_sim(37, 2, 2, common::lan());
    sim.run_for(Duration::from_millis(1)).expect("no invariants");
    sim.command(nodes[1], Command::Publish(5)); // queued before the restart
    sim.restart(nodes[1]);
    sim.run_for(Duration::from_millis(1)).expect("no invariants");
    let mine: Vec<&Event> =
        sim.events().iter().filter(|e| e.node == nodes[1]).map(|e| &e.event).collect();
    assert_eq!(mine, vec![&Event::Started, &Event::Started, &Event::Delivered(5)]);
    assert!(sim.node_state(nodes[1]).expect("up").has_seen(5), "the new state got it");
}

#[test]
fn messages_in_flight_to_a_crashed_incarnation_are_dropped() {
    let (mut sim, nodes, _) = common::flood_sim(33, 2, 2, common::lan());
    let b_addr = sim.peer_addr(nodes[1]).expect("exists");
    sim.command(nodes[0], Command::Ping(b_addr)); // arrives at 10 ms
    sim.schedule_crash(ms(5), nodes[1]);
    sim.schedule_restart(ms(7), nodes[1]); // up again before the ping arrives
    sim.run_for(Duration::from_secs(2)).expect("no invariants");
    assert!(sim.is_up(nodes[1]));
    assert_eq!(sim.node_stats(nodes[1]).received, 0, "the ping was for the old incarnation");
    assert_eq!(sim.stats().dropped_dead, 1);
    let downs = common::peer_downs(sim.events());
    assert_eq!(downs, vec![(nodes[0], ms(1010), b_addr)], "timeout counted from arrival");
}

#[test]
fn timers_of_a_crashed_incarnation_are_discarded() {
    let mut sim = Sim::new(SimConfig::with_seed(34));
    let graph = testproto::random_graph(2, 2, 34);
    let config = FloodConfig { keepalive: Some(Duration::from_secs(1)) };
    let nodes = testproto::add_flood_nodes(&mut sim, &graph, config);
    sim.run_until(ms(3500)).expect("no invariants");
    assert_eq!(sim.node_state(nodes[0]).expect("up").ticks(), 3);
    sim.crash(nodes[0]);
    sim.run_until(ms(5000)).expect("no invariants");
    sim.restart(nodes[0]); // at 5 s: its first timer fires at 6 s
    sim.run_until(ms(6500)).expect("no invariants");
    assert_eq!(sim.node_state(nodes[0]).expect("up").ticks(), 1, "only the new timer chain");
    assert_eq!(sim.stats().timers_discarded, 1, "the timer pending at the crash");
    assert_eq!(sim.node_state(nodes[1]).expect("up").ticks(), 6, "node 1 ticks on");
}

#[test]
fn exponential_churn_crashes_at_the_expected_rate() {
    let n = 1000;
    let mut sim: Sim<FloodNode> = Sim::new(SimConfig::with_seed(35));
    for _ in 0..n {
        sim.add_node(|ctx| FloodNode::new(Vec::new(), FloodConfig::default(), ctx.seed));
    }
    let session = Dist::Exponential { median: Duration::from_secs(60) };
    let downtime = Dist::Exponential { median: Duration::from_secs(30) };
    sim.enable_churn(Churn { session, downtime, nodes: ChurnNodes::All });
    let horizon = Duration::from_secs(3600);
    sim.run_for(horizon).expect("no invariants");

    let s = *sim.stats();
    let cycle = session.mean() + downtime.mean(); // ≈ 129.8 s
    let expected = n as f64 * horizon.as_secs_f64() / cycle.as_secs_f64(); // ≈ 27,700
    let ratio = s.crashes as f64 / expected;
    assert!((0.95..1.05).contains(&ratio), "{} crashes, expected ≈ {expected:.0}", s.crashes);
    let down = sim.node_indices().filter(|&i| !sim.is_up(i)).count() as u64;
    assert_eq!(s.crashes - s.restarts, down, "every restart follows a crash");
    let up_fraction = 1.0 - down as f64 / n as f64;
    let want = session.mean().as_secs_f64() / cycle.as_secs_f64(); // 2/3
    assert!((up_fraction - want).abs() < 0.05, "{up_fraction} up, expected {want}");
    let starts = sim.events().iter().filter(|e| e.event == Event::Started).count() as u64;
    assert_eq!(starts, n + s.restarts, "every incarnation got Start");

    sim.disable_churn();
    let before = *sim.stats();
    sim.run_for(horizon).expect("no invariants");
    assert_eq!((sim.stats().crashes, sim.stats().restarts), (before.crashes, before.restarts));
}

#[test]
fn churn_touches_only_the_listed_nodes() {
    let (mut sim, nodes, _) = common::flood_sim(36, 20, 4, common::lan());
    sim.enable_churn(Churn {
        session: Dist::Fixed(Duration::from_secs(10)),
        downtime: Dist::Uniform { min: Duration::from_secs(1), max: Duration::from_secs(3) },
        nodes: ChurnNodes::Only(nodes[..5].to_vec()),
    });
    sim.run_for(Duration::from_secs(100)).expect("no invariants");
    for (i, &n) in nodes.iter().enumerate() {
        let inc = sim.incarnation(n).expect("exists");
        if i < 5 {
            assert!((7..=9).contains(&inc), "{n} restarted {inc} times");
        } else {
            assert_eq!(inc, 0, "{n} never churns");
        }
    }
}
