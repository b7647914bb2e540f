//! `p2p pnrp`: register and resolve peer names, after `netsh p2p pnrp`.
//!
//! Both commands run a real PNRP node (`peergroup_pnrp::net`) on a QUIC endpoint of their
//! own for as long as they run, bootstrapping the Global cloud through `--seed` addresses
//! and the routing cache of the data directory (`<data dir>/pnrp/global.cache`).
//!
//! * `p2p pnrp register <NAME>` registers and stays running until interrupted (Ctrl-C or
//!   SIGTERM), then unregisters. Its first line on stdout is stable, for scripts:
//!   `listening <ADDR> node <NODE ID> registered <PEER NAME>` (the name last: a
//!   classifier may contain spaces).
//! * `p2p pnrp resolve <PEER NAME>` prints the instances found, or fails (exit status 1)
//!   with `not found`, `timed out` or `cloud not ready`.

// Registration and resolve times are measured on the real clock.
#![allow(clippy::disallowed_methods)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;
use peergroup_base::{Classifier, PeerName};
use peergroup_identity::{Identity, IdentityStore};
use peergroup_net::{Endpoint, EndpointConfig};
use peergroup_pnrp::net::{
    CacheLocation, Endpoints, Pnrp, PnrpConfig, PnrpError, ResolveOptions, Seed,
};
use peergroup_pnrp::proto::cpa::MAX_PAYLOAD_BYTES;
use peergroup_pnrp::proto::{Cloud, CloudState, Instance, ResolveOutcome};
use serde::Serialize;

use crate::output::{self, CliError};

/// Classifier of the identity created when a command needs one and none is named.
const DEFAULT_IDENTITY: &str = "default";

/// Longest resolve timeout accepted, in seconds (an hour: longer is a mistake).
const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// How long a resolving node waits at exit for its connections to close.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long the unregistration at exit may take before the command gives up on it.
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// `p2p pnrp …` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PnrpCommand {
    /// Register a peer name in the Global cloud and keep it registered until interrupted
    /// (Ctrl-C); it is unregistered on exit.
    Register {
        /// A classifier (the name registered is then `<identity authority>.<classifier>`)
        /// or a full peer name of the identity (or an unsecured `0.<classifier>`).
        name: String,
        /// The identity that owns the name (default: for a full secure peer name, the
        /// identity that owns it; otherwise the identity `default` of the data
        /// directory, created if missing).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
        /// A comment published with the name (fewer than 40 characters).
        #[arg(long, default_value = "", value_name = "TEXT")]
        comment: String,
        /// Publish this file's bytes (at most 4 KiB) with the name.
        #[arg(long, value_name = "FILE")]
        payload_file: Option<PathBuf>,
        /// The UDP address of this node's QUIC endpoint.
        #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:3587")]
        listen: SocketAddr,
        /// A node of the cloud to join through: ADDR:PORT or NODEID@ADDR:PORT
        /// (repeatable).
        #[arg(long = "seed", value_name = "ADDR")]
        seeds: Vec<String>,
    },
    /// Resolve a peer name to the endpoints, comment and payload of its instances.
    Resolve {
        /// The peer name, `<authority>.<classifier>`.
        name: String,
        /// A node of the cloud to ask through: ADDR:PORT or NODEID@ADDR:PORT
        /// (repeatable).
        #[arg(long = "seed", value_name = "ADDR")]
        seeds: Vec<String>,
        /// Most instances to return (1 to 64).
        #[arg(long, default_value_t = 16, value_name = "N")]
        max: usize,
        /// Give up after this many seconds.
        #[arg(long, value_name = "S", default_value_t = 10.0)]
        timeout: f64,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Run the resolving node under this identity (default: a temporary identity, so
        /// that it never collides with a registering node of the same data directory).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
        /// The UDP address of this node's QUIC endpoint.
        #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0")]
        listen: SocketAddr,
    },
}

fn pnrp_error(e: PnrpError) -> CliError {
    CliError::runtime(e.to_string())
}

fn parse_seeds(seeds: &[String]) -> Result<Vec<Seed>, CliError> {
    seeds.iter().map(|s| s.parse::<Seed>().map_err(|e| CliError::Usage(e.to_string()))).collect()
}

/// Runs a `p2p pnrp` command with identities and the routing cache in `data_dir`.
pub(crate) async fn run(data_dir: &Path, command: PnrpCommand) -> Result<(), CliError> {
    match command {
        PnrpCommand::Register { name, identity, comment, payload_file, listen, seeds } => {
            let seeds = parse_seeds(&seeds)?;
            let payload = payload_file.as_deref().map(read_payload).transpose()?;
            let identity = match (&identity, PeerName::parse(&name)) {
                // a secure full name: the identity that owns it
                (None, Ok(full)) if full.authority().is_secure() => {
                    identity_owning(data_dir, &full)?
                }
                _ => identity_for_register(data_dir, identity.as_deref())?,
            };
            let name = name_of(&identity, &name)?;
            register(data_dir, identity, name, &comment, payload, listen, seeds).await
        }
        PnrpCommand::Resolve { name, seeds, max, timeout, json, identity, listen } => {
            let seeds = parse_seeds(&seeds)?;
            let name = PeerName::parse(&name).map_err(|e| {
                CliError::Usage(format!(
                    "{name:?} is not a peer name <authority>.<classifier>: {e}"
                ))
            })?;
            if !(1..=64).contains(&max) {
                return Err(CliError::Usage("--max must be between 1 and 64".into()));
            }
            if !(timeout > 0.0 && timeout <= MAX_TIMEOUT_SECS) {
                return Err(CliError::Usage(format!(
                    "--timeout must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"
                )));
            }
            let identity = match identity {
                Some(q) => IdentityStore::open(data_dir)?.find(&q)?,
                None => {
                    output::note(format_args!("using a temporary identity for this resolve"));
                    Identity::generate("resolver", "")?
                }
            };
            let options = ResolveOptions::default()
                .with_max_results(max)
                .with_timeout(Duration::from_secs_f64(timeout));
            resolve(data_dir, identity, name, options, listen, seeds, json).await
        }
    }
}

/// The identity named on the command line, or the data directory's `default` identity
/// (created if missing); says which on stderr.
pub(crate) fn identity_for_register(
    data_dir: &Path,
    query: Option<&str>,
) -> Result<Identity, CliError> {
    let store = IdentityStore::open(data_dir)?;
    if let Some(q) = query {
        return Ok(store.find(q)?);
    }
    let existing = store
        .list()?
        .into_iter()
        .filter_map(Result::ok)
        .find(|i| i.peer_name().classifier().as_str() == DEFAULT_IDENTITY);
    match existing {
        Some(identity) => {
            output::note(format_args!("using the default identity {}", identity.peer_name()));
            Ok(identity)
        }
        None => {
            let identity = store.create(DEFAULT_IDENTITY, "Default identity")?;
            output::note(format_args!(
                "created the default identity {} in {}",
                identity.peer_name(),
                data_dir.display()
            ));
            Ok(identity)
        }
    }
}

/// The identity of the data directory whose authority is `name`'s (says which on stderr).
fn identity_owning(data_dir: &Path, name: &PeerName) -> Result<Identity, CliError> {
    let store = IdentityStore::open(data_dir)?;
    let owner = store
        .list()?
        .into_iter()
        .filter_map(Result::ok)
        .find(|i| i.peer_name().authority() == name.authority());
    match owner {
        Some(identity) => {
            output::note(format_args!(
                "using the identity {} (it owns {name})",
                identity.peer_name()
            ));
            Ok(identity)
        }
        None => Err(CliError::runtime(format!(
            "no identity in {} owns {name} (its authority is {}); register a classifier of \
             one of yours, or import the identity that owns it",
            data_dir.display(),
            name.authority()
        ))),
    }
}

/// `text` as a full peer name if it is one, else as a classifier of `identity`'s
/// authority.
fn name_of(identity: &Identity, text: &str) -> Result<PeerName, CliError> {
    if let Ok(name) = PeerName::parse(text) {
        return Ok(name);
    }
    let classifier = Classifier::new(text).map_err(|e| {
        CliError::Usage(format!("{text:?} is neither a peer name nor a classifier: {e}"))
    })?;
    Ok(PeerName::new(*identity.peer_name().authority(), classifier))
}

fn read_payload(path: &Path) -> Result<Vec<u8>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::file(path, "open", &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PAYLOAD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::file(path, "read", &e))?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(CliError::File {
            path: path.to_path_buf(),
            reason: format!("a payload is at most {MAX_PAYLOAD_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

async fn start_node(
    data_dir: &Path,
    identity: &Identity,
    listen: SocketAddr,
    seeds: Vec<Seed>,
) -> Result<(Endpoint, Pnrp), CliError> {
    let endpoint = Endpoint::bind(identity.clone(), EndpointConfig::with_bind(listen)).await?;
    let mut config = PnrpConfig::default().with_seeds(seeds);
    config.cache = CacheLocation::in_data_dir(data_dir);
    let pnrp = Pnrp::start(&endpoint, identity, config).await.map_err(pnrp_error)?;
    Ok((endpoint, pnrp))
}

/// Waits for Ctrl-C (or SIGTERM on Unix).
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn register(
    data_dir: &Path,
    identity: Identity,
    name: PeerName,
    comment: &str,
    payload: Option<Vec<u8>>,
    listen: SocketAddr,
    seeds: Vec<Seed>,
) -> Result<(), CliError> {
    let (endpoint, pnrp) = start_node(data_dir, &identity, listen, seeds.clone()).await?;
    let local = endpoint.local_addr()?;
    if !seeds.is_empty() && pnrp.cloud_state(Cloud::Global) == CloudState::Alone {
        output::warn("no seed answered; registered locally until one does");
    }
    let started = Instant::now();
    let registration =
        pnrp.register(name.clone(), Endpoints::Auto, comment, payload).await.map_err(pnrp_error)?;
    let took = started.elapsed();
    output::line(format!("listening {local} node {} registered {name}", pnrp.node_id()))?;
    let endpoints: Vec<String> = registration.endpoints().iter().map(|a| a.to_string()).collect();
    output::line(format!(
        "endpoints {} replicas {} in {:.1} ms",
        endpoints.join(","),
        registration.replicas(),
        took.as_secs_f64() * 1e3
    ))?;
    output::note(format_args!("registered; press Ctrl-C to unregister and exit"));

    interrupted().await;

    match tokio::time::timeout(UNREGISTER_TIMEOUT, registration.unregister()).await {
        Ok(Ok(replicas)) => output::line(format!("unregistered {name} ({replicas} replicas)"))?,
        Ok(Err(e)) => output::warn(format!("unregistering {name}: {e}")),
        Err(_) => output::warn(format!("unregistering {name}: no confirmation in time")),
    }
    if let Err(e) = pnrp.shutdown().await {
        output::warn(e);
    }
    endpoint.close().await;
    Ok(())
}

/// An instance as `--json` prints it.
#[derive(Debug, Serialize)]
struct InstanceJson {
    name: String,
    endpoints: Vec<String>,
    comment: String,
    payload_size: usize,
    payload_hex: Option<String>,
    sequence: u64,
    not_after: String,
    unsecured: bool,
    delegated: bool,
    signer: String,
    source: String,
}

impl From<&Instance> for InstanceJson {
    fn from(i: &Instance) -> Self {
        InstanceJson {
            name: i.name.to_string(),
            endpoints: i.endpoints.iter().map(|a| a.to_string()).collect(),
            comment: i.comment.clone(),
            payload_size: i.payload.as_ref().map_or(0, Vec::len),
            payload_hex: i.payload.as_ref().map(hex::encode),
            sequence: i.sequence,
            not_after: i.not_after.to_string(),
            unsecured: i.unsecured,
            delegated: i.delegated,
            signer: hex::encode(i.signer),
            source: i.source.to_hex(),
        }
    }
}

#[derive(Debug, Serialize)]
struct ResolveJson {
    name: String,
    outcome: &'static str,
    elapsed_ms: f64,
    hops: u32,
    requests: u32,
    instances: Vec<InstanceJson>,
}

fn outcome_text(o: ResolveOutcome) -> &'static str {
    match o {
        ResolveOutcome::Found => "found",
        ResolveOutcome::NotFound => "not_found",
        ResolveOutcome::TimedOut => "timed_out",
        ResolveOutcome::CloudNotReady => "cloud_not_ready",
        ResolveOutcome::Busy => "busy",
    }
}

async fn resolve(
    data_dir: &Path,
    identity: Identity,
    name: PeerName,
    options: ResolveOptions,
    listen: SocketAddr,
    seeds: Vec<Seed>,
    json: bool,
) -> Result<(), CliError> {
    let timeout = options.timeout;
    let had_seeds = !seeds.is_empty();
    let (endpoint, pnrp) = start_node(data_dir, &identity, listen, seeds).await?;
    let result = async {
        if had_seeds && pnrp.cloud_state(Cloud::Global) == CloudState::Alone {
            return Err(CliError::runtime(format!(
                "cloud not ready: no seed answered, {name} was not resolved"
            )));
        }
        let started = Instant::now();
        let resolved = pnrp.resolve_detailed(&name, options).await.map_err(pnrp_error)?;
        let elapsed = started.elapsed();
        if json {
            let report = ResolveJson {
                name: name.to_string(),
                outcome: outcome_text(resolved.outcome),
                elapsed_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
                hops: resolved.stats.hops,
                requests: resolved.stats.requests,
                instances: resolved.instances.iter().map(InstanceJson::from).collect(),
            };
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| CliError::runtime(format!("cannot encode the result: {e}")))?;
            output::line(text)?;
        } else if resolved.outcome == ResolveOutcome::Found {
            print_instances(&resolved.instances, elapsed)?;
        }
        match resolved.outcome {
            ResolveOutcome::Found => Ok(()),
            ResolveOutcome::NotFound => Err(CliError::runtime(format!("not found: {name}"))),
            ResolveOutcome::TimedOut => Err(CliError::runtime(format!(
                "timed out after {:.1} s: {name}",
                timeout.as_secs_f64()
            ))),
            ResolveOutcome::CloudNotReady => Err(CliError::runtime(format!(
                "cloud not ready ({:?}): {name} was not resolved",
                pnrp.cloud_state(Cloud::Global)
            ))),
            ResolveOutcome::Busy => {
                Err(CliError::runtime(format!("busy: too many resolves; {name} was not resolved")))
            }
        }
    }
    .await;
    let _ = pnrp.shutdown().await;
    // Tell the peers we leave, but do not keep the user waiting for dials still in flight.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, endpoint.close()).await;
    result
}

fn print_instances(instances: &[Instance], elapsed: Duration) -> Result<(), CliError> {
    output::line(format!(
        "{} instance{} found in {:.1} ms",
        instances.len(),
        if instances.len() == 1 { "" } else { "s" },
        elapsed.as_secs_f64() * 1e3
    ))?;
    for i in instances {
        output::line("")?;
        let endpoints: Vec<String> = i.endpoints.iter().map(|a| a.to_string()).collect();
        let mut pairs = vec![
            ("name", i.name.to_string()),
            ("endpoints", endpoints.join(", ")),
            ("comment", i.comment.clone()),
            ("payload", format!("{} bytes", i.payload.as_ref().map_or(0, Vec::len))),
            ("version", i.sequence.to_string()),
            ("valid until", i.not_after.to_string()),
        ];
        if i.unsecured {
            pairs.push(("security", "UNSECURED name: anyone may have registered it".into()));
        }
        output::details(&pairs)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classifiers_or_full_names() {
        let id = Identity::generate("me", "").unwrap();
        let n = name_of(&id, "chat").unwrap();
        assert_eq!(n.authority(), id.peer_name().authority());
        assert_eq!(n.classifier().as_str(), "chat");
        let dotted = name_of(&id, "my.service").unwrap();
        assert_eq!(dotted.classifier().as_str(), "my.service");
        let full = name_of(&id, &id.peer_name().to_string()).unwrap();
        assert_eq!(&full, id.peer_name());
        assert!(name_of(&id, "").is_err());
    }
}
