//! Helpers shared by the PNRP simulator tests: a small cloud built by honest bootstrap,
//! and synchronous register / resolve wrappers over the simulator.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::expect_used)] // a failed expect is a failed run

use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::{PeerAddr, PeerName};
use peergroup_pnrp::proto::{
    Cloud, CloudState, Command, Config, CpaSigner, Event, Instance, Pnrp, RegisterRequest,
    RegistrationId, ResolveId, ResolveOutcome, ResolveRequest, ResolveStats,
};
use peergroup_pnrp::scenario::{SimNode, sim_nodes};
use peergroup_sim::{LinkConfig, NodeIdx, Sim, SimConfig};

/// A simulated cloud and its nodes' keys and names.
pub struct TestCloud {
    pub sim: Sim<Pnrp>,
    pub nodes: Vec<SimNode>,
    next_id: u64,
}

/// The default config for tests: diversity limits as in production.
pub fn config() -> Config {
    Config::default()
}

/// `n` nodes, the first `seeds` started together, the rest joining every 50 ms through
/// them, then 5 s to settle. Every node gets `config` (plus the seeds).
pub fn cloud(n: usize, seed: u64, config: Config) -> TestCloud {
    cloud_with(n, seed, config, |_, c| c)
}

/// Like [`cloud`], with a per-node config hook.
pub fn cloud_with(
    n: usize,
    seed: u64,
    config: Config,
    mut per_node: impl FnMut(usize, Config) -> Config,
) -> TestCloud {
    let seeds = 2.min(n);
    let nodes = sim_nodes(seed, n);
    let sim_config =
        SimConfig { seed, default_link: LinkConfig::default(), ..SimConfig::default() };
    let mut sim: Sim<Pnrp> = Sim::new(sim_config);
    let seed_addrs: Vec<PeerAddr> = nodes[..seeds].iter().map(|s| s.addr).collect();
    for (i, node) in nodes.iter().enumerate() {
        if i >= seeds {
            let at = sim.now() + Duration::from_millis(50);
            sim.run_until(at).expect("no invariants");
        }
        let mut c = config.clone();
        c.seeds = seed_addrs.clone();
        let c = per_node(i, c);
        let addr = node.addr;
        sim.add_node_with_id(addr.node, move |ctx| Pnrp::new(addr, c.clone(), ctx.seed));
    }
    sim.run_for(Duration::from_secs(5)).expect("no invariants");
    TestCloud { sim, nodes, next_id: 1 }
}

impl TestCloud {
    pub fn idx(i: usize) -> NodeIdx {
        NodeIdx(i as u32)
    }

    pub fn node(&self, i: usize) -> &Pnrp {
        self.sim.node_state(NodeIdx(i as u32)).expect("node is up")
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A registration request of node `i`'s own name.
    pub fn own_name_request(&self, i: usize) -> RegisterRequest {
        let n = &self.nodes[i];
        RegisterRequest::new(n.name.clone(), n.signer.clone(), vec![endpoint(i, 0)])
    }

    /// Registers `request` at node `i` and runs until it is `Registered` (or fails).
    /// Returns the event.
    pub fn register(&mut self, i: usize, request: RegisterRequest) -> (RegistrationId, Event) {
        let id = RegistrationId(self.fresh_id());
        self.sim.command(NodeIdx(i as u32), Command::Register { id, request });
        let ev = self.run_until_event(Duration::from_secs(30), |e| match e {
            Event::Registered { id: x, .. } | Event::RegistrationFailed { id: x, .. } => *x == id,
            _ => false,
        });
        (id, ev.expect("registration ends within 30 s"))
    }

    /// Resolves `name` from node `i` with `max_results` and a 10 s timeout.
    pub fn resolve(&mut self, i: usize, name: &PeerName, max_results: usize) -> Resolved {
        let mut req = ResolveRequest::new(name.clone());
        req.max_results = max_results;
        req.timeout = Duration::from_secs(10);
        self.resolve_with(i, req)
    }

    pub fn resolve_with(&mut self, i: usize, request: ResolveRequest) -> Resolved {
        let id = ResolveId(self.fresh_id());
        let start = self.sim.events().len();
        self.sim.command(NodeIdx(i as u32), Command::Resolve { id, request });
        let done = self
            .run_until_event(
                Duration::from_secs(60),
                |e| matches!(e, Event::ResolveDone { id: x, .. } if *x == id),
            )
            .expect("every resolve ends");
        let streamed: Vec<Instance> = self.sim.events()[start..]
            .iter()
            .filter_map(|e| match &e.event {
                Event::ResolveInstance { id: x, instance } if *x == id => {
                    Some((**instance).clone())
                }
                _ => None,
            })
            .collect();
        match done {
            Event::ResolveDone { outcome, instances, stats, .. } => {
                Resolved { outcome, instances, stats, streamed }
            }
            _ => unreachable!("filtered above"),
        }
    }

    /// Runs until an event matching `pred` is emitted (returned), at most `limit` of
    /// virtual time.
    pub fn run_until_event(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<Event> {
        let mut seen = self.sim.events().len();
        let end = self.sim.now() + limit;
        while self.sim.now() < end {
            self.sim.run_for(Duration::from_millis(20)).expect("no invariants");
            let events = self.sim.events();
            if let Some(e) = events[seen..].iter().find(|e| pred(&e.event)) {
                return Some(e.event.clone());
            }
            seen = events.len();
        }
        None
    }

    pub fn states(&self) -> Vec<CloudState> {
        (0..self.nodes.len())
            .filter_map(|i| self.sim.node_state(NodeIdx(i as u32)))
            .map(|p| p.cloud_state(Cloud::Global))
            .collect()
    }
}

/// The result of a resolve.
#[derive(Debug)]
pub struct Resolved {
    pub outcome: ResolveOutcome,
    pub instances: Vec<Instance>,
    pub stats: ResolveStats,
    /// Instances emitted as `ResolveInstance` before the end.
    pub streamed: Vec<Instance>,
}

/// The `v`-th endpoint node `i` registers.
pub fn endpoint(i: usize, v: u16) -> SocketAddr {
    SocketAddr::from(([198, 51, (i / 250) as u8, (i % 250) as u8 + 1], 5000 + v))
}

/// A signer from a one-byte seed.
pub fn signer(b: u8) -> CpaSigner {
    CpaSigner::from_seed(&[b; 32])
}
