//! An identity exported with a password on one "machine" (data dir) and imported on another
//! keeps its peer name and key: peers that dial it by name still reach it over QUIC, and an
//! identity that merely claims the same classifier does not pass.
#![allow(clippy::unwrap_used)]

use peergroup_identity::{ExportOptions, IdentityStore, export_identity, import_identity};
use peergroup_net::{Endpoint, EndpointConfig, Expect, ProtocolId};

#[tokio::test]
async fn exported_identity_answers_to_its_name_after_import() {
    let machine_a = tempfile::tempdir().unwrap();
    let machine_b = tempfile::tempdir().unwrap();
    let store_a = IdentityStore::open(machine_a.path()).unwrap();
    let original = store_a.create("server", "The server").unwrap();
    let name = original.peer_name().clone();

    let armoured =
        export_identity(&original, "correct horse", &ExportOptions::with_iterations(100_000))
            .unwrap();
    let moved = import_identity(&armoured, "correct horse").unwrap();
    let store_b = IdentityStore::open(machine_b.path()).unwrap();
    store_b.import(&moved).unwrap();
    let reloaded = store_b.get(&name).unwrap();
    assert_eq!(reloaded.node_id(), original.node_id());
    assert_eq!(reloaded.friendly_name(), "The server");

    // The reloaded identity serves on machine B; a client dials it by the original name.
    let server = Endpoint::bind(reloaded, EndpointConfig::loopback()).await.unwrap();
    let proto = ProtocolId::new("hello/1").unwrap();
    let mut incoming = server.register(proto.clone()).unwrap();
    tokio::spawn(async move {
        while let Some(mut s) = incoming.next().await {
            while let Ok(Some(m)) = s.recv::<String>().await {
                let _ = s.send(&format!("ack {m}")).await;
            }
        }
    });
    let client_id = IdentityStore::open(machine_a.path()).unwrap().create("client", "").unwrap();
    let client = Endpoint::bind(client_id, EndpointConfig::loopback()).await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut s = client.open(addr, Expect::Name(name.clone()), &proto).await.unwrap();
    let reply: String = s.request("hi").await.unwrap();
    assert_eq!(reply, "ack hi");

    // While that connection lives, dialling the name again reuses it, whatever the address.
    let again = client.connect(addr, Expect::Name(name.clone())).await.unwrap();
    assert_eq!(client.connections().len(), 1);
    assert_eq!(again.remote().peer_name, name);

    // A different key with the same classifier is a different name: a fresh client that
    // dials the impostor's address expecting the original name is refused.
    let impostor = store_b.create("server", "").unwrap();
    assert_ne!(impostor.peer_name(), &name);
    let fake = Endpoint::bind(impostor, EndpointConfig::loopback()).await.unwrap();
    let other_client =
        Endpoint::bind(store_a.create("client2", "").unwrap(), EndpointConfig::loopback())
            .await
            .unwrap();
    let err =
        other_client.connect(fake.local_addr().unwrap(), Expect::Name(name)).await.unwrap_err();
    assert!(err.is_wrong_peer(), "{err}");
}

#[test]
fn wrong_password_is_not_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let id = IdentityStore::open(dir.path()).unwrap().create("x", "").unwrap();
    let armoured = export_identity(&id, "right", &ExportOptions::with_iterations(100_000)).unwrap();
    let err = import_identity(&armoured, "wrong").unwrap_err();
    assert!(err.is_wrong_password(), "{err}");
    assert!(!err.is_integrity_failure(), "{err}");
}
