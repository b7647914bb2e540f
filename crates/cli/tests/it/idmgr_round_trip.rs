//! `p2p idmgr` end to end: the real binary on a temporary data directory.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env { dir: tempfile::tempdir().unwrap() }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p2p(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_p2p"))
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env_remove("PEERGROUP_DATA_DIR")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.p2p(args);
        assert!(
            out.status.success(),
            "p2p {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns (exit code, stderr).
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.p2p(args);
        assert!(!out.status.success(), "p2p {args:?} should fail");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code().unwrap_or(-1), stderr)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn create_show_export_delete_import() {
    let env = Env::new();
    let alice = env.ok(&["idmgr", "create-identity", "alice", "--friendly-name", "Alice's laptop"]);
    let alice = alice.trim().to_owned();
    assert!(alice.ends_with(".alice") && alice.len() == 40 + 1 + 5, "{alice}");
    let bob = env.ok(&["idmgr", "create-identity", "bob"]).trim().to_owned();

    let list = env.ok(&["idmgr", "show", "identities"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("PEER NAME"));
    assert!(lines[1].starts_with(&alice) && lines[1].contains("Alice's laptop"), "{list}");
    assert!(lines[2].starts_with(&bob));

    for query in [alice.as_str(), "alice", "al", &alice[..40]] {
        let shown = env.ok(&["idmgr", "show", "identity", query]);
        assert!(shown.contains(&format!("peer name:           {alice}")), "{shown}");
        assert!(shown.contains("certificate SHA-256: "), "{shown}");
        assert!(shown.contains("node id:"), "{shown}");
        assert!(shown.contains("friendly name:       Alice's laptop"), "{shown}");
    }

    env.ok(&["idmgr", "set-friendly-name", "alice", "Alice's desktop"]);
    assert!(env.ok(&["idmgr", "show", "identity", "alice"]).contains("Alice's desktop"));

    // identity info, to stdout and to a file
    let info = env.ok(&["idmgr", "export-info", "alice"]);
    assert!(info.starts_with("-----BEGIN PEERGROUP IDENTITY INFO-----\n"));
    assert!(info.contains(&format!("Peer-Name: {alice}\n")));
    let info_file = env.path("alice.info");
    env.ok(&["idmgr", "export-info", "alice", "--out", s(&info_file)]);
    assert_eq!(std::fs::read_to_string(&info_file).unwrap(), info);
    let parsed = peergroup_identity::IdentityInfo::parse(&info).unwrap();
    assert_eq!(parsed.peer_name().to_string(), alice);

    // full export with a password file
    let password = env.path("password");
    std::fs::write(&password, "correct horse\n").unwrap();
    let export = env.path("alice.export");
    let args = ["idmgr", "export", "alice", "--out", s(&export), "--password-file", s(&password)];
    let said = env.ok(&[&args[..], &["--iterations", "100000"]].concat());
    assert!(said.contains(&alice));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&export).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // mode 0600 on Unix, an owner-only ACL on Windows (wine keeps no DACLs: see
    // peergroup_os::runs_under_wine; the export above still went through the ACL call)
    match peergroup_os::owner_only_violation(&export).unwrap() {
        None => {}
        Some(why) if peergroup_os::runs_under_wine() => eprintln!("under wine, not checked: {why}"),
        Some(why) => panic!("the export is not owner-only: {why}"),
    }
    // no silent overwrite
    let (code, err) = env.fails(&args);
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");

    // importing what is already there
    let (_, err) = env.fails(&["idmgr", "import", s(&export), "--password-file", s(&password)]);
    assert!(err.contains("already exists"), "{err}");

    env.ok(&["idmgr", "delete", &alice]);
    let list = env.ok(&["idmgr", "show", "identities"]);
    assert!(!list.contains(&alice) && list.contains(&bob), "{list}");
    let (_, err) = env.fails(&["idmgr", "show", "identity", &alice]);
    assert!(err.starts_with("error: no identity matches"), "{err}");

    // a wrong password: a clear error, nothing imported
    let wrong = env.path("wrong");
    std::fs::write(&wrong, "correct horse!\n").unwrap();
    let (code, err) = env.fails(&["idmgr", "import", s(&export), "--password-file", s(&wrong)]);
    assert_eq!(code, 1);
    assert_eq!(err, "error: wrong password for this identity export\n");
    assert!(!env.ok(&["idmgr", "show", "identities"]).contains(&alice));

    // the right one restores the identity, same key and friendly name
    let said = env.ok(&["idmgr", "import", s(&export), "--password-file", s(&password)]);
    assert_eq!(said.trim(), format!("imported {alice}"));
    let shown = env.ok(&["idmgr", "show", "identity", &alice]);
    assert!(shown.contains("Alice's desktop"), "{shown}");
    assert_eq!(env.ok(&["idmgr", "export-info", "alice"]), info);

    // an identity info is not an export
    let (code, err) =
        env.fails(&["idmgr", "import", s(&info_file), "--password-file", s(&password)]);
    assert_eq!(code, 1);
    assert!(err.contains("holds only the public key"), "{err}");

    // a damaged export
    let text = std::fs::read_to_string(&export).unwrap();
    let truncated = env.path("truncated");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let (_, err) = env.fails(&["idmgr", "import", s(&truncated), "--password-file", s(&password)]);
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn user_mistakes_are_errors_not_panics() {
    let env = Env::new();
    let (code, err) = env.fails(&["idmgr", "create-identity", "bad\u{7}name"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: invalid classifier"), "{err}");
    let (code, err) = env.fails(&["idmgr", "create-identity", &"x".repeat(150)]);
    assert_eq!(code, 1);
    assert!(err.contains("150 characters"), "{err}");

    // command-line mistakes: exit status 2
    let (code, _) = env.fails(&["idmgr", "no-such-command"]);
    assert_eq!(code, 2);
    let (code, _) = env.fails(&["idmgr", "export", "x"]);
    assert_eq!(code, 2);
    let (code, _) = env.fails(&["idmgr", "export", "x", "--out", "y", "--iterations", "5"]);
    assert_eq!(code, 2);

    env.ok(&["idmgr", "create-identity", "same"]);
    env.ok(&["idmgr", "create-identity", "same"]);
    let (code, err) = env.fails(&["idmgr", "show", "identity", "same"]);
    assert_eq!(code, 1);
    assert!(err.contains("matches 2 identities"), "{err}");

    // no password source and no terminal
    let export = env.path("e");
    env.ok(&["idmgr", "create-identity", "carol"]);
    let (code, err) = env.fails(&["idmgr", "export", "carol", "--out", s(&export)]);
    assert_eq!(code, 2);
    assert!(err.contains("--password-file"), "{err}");
    let (code, err) = env.fails(&["idmgr", "import", s(&env.path("missing"))]);
    assert_eq!(code, 1);
    assert!(err.contains("missing"), "{err}");
    let empty = env.path("empty-password");
    std::fs::write(&empty, "\n").unwrap();
    let (_, err) =
        env.fails(&["idmgr", "export", "carol", "--out", s(&export), "--password-file", s(&empty)]);
    assert!(err.contains("password is empty"), "{err}");
}

#[test]
fn corrupted_store_file_is_reported_and_others_still_listed() {
    let env = Env::new();
    let a = env.ok(&["idmgr", "create-identity", "a"]).trim().to_owned();
    let b = env.ok(&["idmgr", "create-identity", "b"]).trim().to_owned();
    let c = env.ok(&["idmgr", "create-identity", "c"]).trim().to_owned();
    let bad = env.data().join("identities").join(&b[..40]).join("identity.json");
    std::fs::write(&bad, "{ this is not json").unwrap();

    let out = env.p2p(&["idmgr", "show", "identities"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.contains(&a) && stdout.contains(&c) && !stdout.contains(&b), "{stdout}");
    assert!(stderr.starts_with("warning: "), "{stderr}");
    assert!(stderr.contains(s(&bad)), "{stderr}");

    // the damaged identity itself gives an error naming the file
    let (code, err) = env.fails(&["idmgr", "show", "identity", &b]);
    assert_eq!(code, 1);
    assert!(err.contains(s(&bad)), "{err}");
}

/// `p2p pnrp register <full peer name>` without `--identity` uses the identity that owns
/// the name; a name no identity here owns is refused with a clear error before anything
/// is created or bound.
#[test]
fn register_of_a_full_name_nobody_here_owns_is_refused() {
    let env = Env::new();
    env.ok(&["idmgr", "create-identity", "alice"]);
    let name = "1234567890123456789012345678901234567890.chat";
    let (code, stderr) = env.fails(&["pnrp", "register", name, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("no identity in {} owns {name}", env.data().display())),
        "{stderr}"
    );
    // no `default` identity was created on the way
    let list = env.ok(&["idmgr", "show", "identities"]);
    assert!(!list.contains(".default"), "{list}");
}

/// Friendly names are any Unicode: a CJK character or an emoji takes two terminal columns,
/// and the table pads by display width, so the CREATED column starts in the same terminal
/// column on every line (padding by `char` count would put it two columns short per wide
/// character).
#[test]
fn show_identities_aligns_wide_friendly_names() {
    let env = Env::new();
    env.ok(&["idmgr", "create-identity", "alice", "--friendly-name", "日本語の名前 🎉"]);
    env.ok(&["idmgr", "create-identity", "bob", "--friendly-name", "Bob"]);
    let list = env.ok(&["idmgr", "show", "identities"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    // The peer-name column is ASCII, so the friendly-name column starts at the same byte
    // offset on every line.
    let at = lines[0].find("FRIENDLY NAME").unwrap();
    let rest = |needle: &str| {
        let line = lines.iter().find(|l| l.contains(needle)).unwrap();
        line[at..].to_owned()
    };
    // The column is as wide as its widest cell: 日本語の名前 (6 × 2) + space + 🎉 (2) = 15
    // columns, then two spaces before CREATED.
    assert!(rest("FRIENDLY NAME").starts_with(&format!("FRIENDLY NAME{}CREATED", " ".repeat(4))));
    let wide = rest("🎉");
    assert!(
        wide.starts_with("日本語の名前 🎉  ") && !wide.starts_with("日本語の名前 🎉   "),
        "{list}"
    );
    let bob = rest("Bob");
    assert!(bob.starts_with(&format!("Bob{}", " ".repeat(14))), "{list}");
    assert!(!bob.starts_with(&format!("Bob{}", " ".repeat(15))), "{list}");
}
