//! A group chat between separate processes, on the `peergroup` facade alone.
//!
//! ```text
//! chat DATA-DIR info NAME                         print NAME's identity info (created if new)
//! chat DATA-DIR create NAME CLASSIFIER            create a group; prints its peer name
//! chat DATA-DIR invite NAME GROUP INFO-FILE       print an invitation for INFO-FILE's identity
//! chat DATA-DIR join NAME INVITATION-FILE         join a group; prints its peer name
//! chat DATA-DIR run NAME GROUP [--listen ADDR] [--peer ADDR]... [--seed ADDR]...
//! ```
//!
//! `run` prints `listening ADDR` first, then every chat line of the other members as
//! `name: text`; each line typed on stdin is sent to the group. With `--peer` it connects
//! to that member; otherwise it finds the others through PNRP (seeded by `--seed`), or
//! waits alone. Try it on one machine:
//!
//! ```text
//! cargo run -p peergroup --example chat -- /tmp/a info alice > /dev/null
//! cargo run -p peergroup --example chat -- /tmp/b info bob > bob.info
//! G=$(cargo run -p peergroup --example chat -- /tmp/a create alice tea)
//! cargo run -p peergroup --example chat -- /tmp/a invite alice $G bob.info > bob.inv
//! cargo run -p peergroup --example chat -- /tmp/b join bob bob.inv
//! cargo run -p peergroup --example chat -- /tmp/a run alice $G --listen 127.0.0.1:4000
//! cargo run -p peergroup --example chat -- /tmp/b run bob $G --peer 127.0.0.1:4000   # another terminal
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use peergroup::base::PeerName;
use peergroup::graph::proto::{Event as GraphEvent, RecordChange, RecordSource};
use peergroup::{
    Event, IdentityInfo, Invitation, NewRecord, Peer, RecordType, Role, random_record_id,
};
use tokio::io::AsyncBufReadExt;

/// The record type of chat lines.
const CHAT: RecordType = RecordType::from_u128(0x6368_6174_0000_4000_8000_0000_0000_0001);

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn usage() -> ! {
    eprintln!(
        "usage: chat DATA-DIR info NAME | create NAME CLASSIFIER | invite NAME GROUP INFO-FILE \
         | join NAME INVITATION-FILE | run NAME GROUP [--listen ADDR] [--peer ADDR]... [--seed ADDR]..."
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(command), Some(name)) = (args.first(), args.get(1), args.get(2)) else {
        usage()
    };
    let dir = PathBuf::from(dir);
    let rest = &args[3..];
    let builder = || Peer::builder().data_dir(&dir).identity_named(name);
    match (command.as_str(), rest) {
        ("info", []) => {
            let peer = builder().loopback().without_pnrp().start().await?;
            print!("{}", IdentityInfo::export(peer.identity()));
            peer.close().await;
        }
        ("create", [classifier]) => {
            let peer = builder().loopback().without_pnrp().start().await?;
            let group = peer.groups().create(&peergroup::CreateOptions::new(classifier))?;
            println!("{}", group.name());
            group.close().await?;
            peer.close().await;
        }
        ("invite", [group, info]) => {
            let peer = builder().loopback().without_pnrp().start().await?;
            let info = IdentityInfo::parse(&std::fs::read_to_string(info)?)?;
            let group = peer.groups().open(&PeerName::parse(group)?)?;
            print!("{}", group.invite(&info, Role::Member, None)?.to_text());
            group.close().await?;
            peer.close().await;
        }
        ("join", [file]) => {
            let peer = builder().loopback().without_pnrp().start().await?;
            let invitation = Invitation::parse(&std::fs::read_to_string(file)?)?;
            let group = peer.groups().join(&invitation)?;
            println!("{}", group.name());
            group.close().await?;
            peer.close().await;
        }
        ("run", [group, options @ ..]) => run(builder(), group, options).await?,
        _ => usage(),
    }
    Ok(())
}

async fn run(builder: peergroup::PeerBuilder, group: &str, options: &[String]) -> Result<()> {
    let mut listen: SocketAddr = ([0, 0, 0, 0], 0).into();
    let (mut peers, mut seeds) = (Vec::new(), Vec::new());
    let mut it = options.iter();
    while let Some(flag) = it.next() {
        let value: SocketAddr = it.next().unwrap_or_else(|| usage()).parse()?;
        match flag.as_str() {
            "--listen" => listen = value,
            "--peer" => peers.push(value),
            "--seed" => seeds.push(value),
            _ => usage(),
        }
    }
    let mut builder = builder.bind(listen);
    for s in seeds {
        builder = builder.seed(s);
    }
    let peer = builder.start().await?;
    let mut group = peer.groups().open(&PeerName::parse(group)?)?;
    let mut events = group.events();
    group.listen().await?;
    println!("listening {}", peer.local_addr()?);
    if peers.is_empty() {
        let outcome = peer.groups().connect(&mut group).await?;
        eprintln!("{outcome:?}");
    } else {
        group.connect_any(&peers).await?;
    }
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = stdin.next_line() => match line? {
                Some(text) if !text.trim().is_empty() => {
                    let record = NewRecord::new(
                        random_record_id(),
                        CHAT,
                        Duration::from_secs(86_400),
                        text.into_bytes(),
                    );
                    group.add_record(record).await?;
                }
                Some(_) => {}
                None => break,
            },
            event = events.next() => match event {
                Some(Event::Graph(GraphEvent::RecordChanged {
                    change: RecordChange::Added, id, record_type, source, ..
                })) if record_type == CHAT && source != RecordSource::Local => {
                    if let Some(r) = group.get(id).await? {
                        println!(
                            "{}: {}",
                            r.creator().classifier(),
                            String::from_utf8_lossy(r.payload())
                        );
                    }
                }
                Some(Event::AuthenticationFailed { reason, local, .. }) => {
                    eprintln!("refused: {reason} ({})", if local { "by us" } else { "by the peer" });
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    group.close().await?;
    peer.close().await;
    Ok(())
}
