//! The verifier's password setup (`group.md` §13.5): made by OPAQUE registration run
//! locally with both roles, kept in an owner-only file by the member who set the password,
//! never in a record.

use std::path::Path;
use std::time::Duration;

use opaque_ke::{
    ClientRegistration, ClientRegistrationFinishParameters, Identifiers, RegistrationResponse,
    ServerRegistration, ServerSetup,
};
use peergroup_base::{PeerName, UnixTime};
use zeroize::Zeroizing;

use super::{
    CLIENT_ID_DOMAIN, CryptoRng, DEFAULT_PASSWORD_VALIDITY, KSF_ARGON2ID_19M_T2, MAX_FAILURES,
    RngCore, SERVER_ID_DOMAIN, Suite, identifier, ksf, password_bytes,
};
use crate::cert::Role;
use crate::error::{DecodeError, GroupError, PasswordError};
use crate::group::LocalMember;
use crate::wire::{Reader, Writer};

/// First line of a setup file.
const FILE_HEADER: &str = "peergroup password setup v1";
/// Largest setup file read, bytes.
pub const MAX_SETUP_FILE_BYTES: usize = 4096;
/// Serialised OPAQUE server setup: OPRF seed 64 ‖ private key 32 ‖ dummy public key 32
/// (the public key is derived from the private key).
const SERVER_SETUP_BYTES: usize = 128;
/// Serialised registration record: client public key 32 ‖ masking key 64 ‖ envelope 96.
const RECORD_BYTES: usize = 192;

/// What a password grants.
#[derive(Debug, Clone)]
pub struct PasswordOptions {
    /// The role joiners get (default member). The setter must be able to issue it.
    pub role: Role,
    /// Validity of each joiner's GMC from its issue (default 365 days; cut to the
    /// verifier's own certificate).
    pub validity: Duration,
}

impl Default for PasswordOptions {
    fn default() -> Self {
        PasswordOptions { role: Role::Member, validity: DEFAULT_PASSWORD_VALIDITY }
    }
}

/// The verifier side of a group password (see the module docs). Its `Debug` shows no
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordSetup {
    pub(crate) group: PeerName,
    pub(crate) password_id: [u8; 16],
    pub(crate) role: Role,
    pub(crate) validity: Duration,
    pub(crate) ksf: u8,
    pub(crate) created: UnixTime,
    pub(crate) failures: u32,
    pub(crate) server_setup: Zeroizing<Vec<u8>>,
    pub(crate) record: Vec<u8>,
}

impl std::fmt::Debug for PasswordSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordSetup")
            .field("group", &self.group.to_string())
            .field("password_id", &hex::encode(self.password_id))
            .field("role", &self.role)
            .field("validity", &self.validity)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl PasswordSetup {
    /// Sets `password` for the group of `issuer`, an administrator or inviting member who
    /// may issue `options.role`: runs OPAQUE registration with both roles (one Argon2id).
    pub fn create<R: RngCore + CryptoRng>(
        issuer: &LocalMember,
        password: &str,
        options: &PasswordOptions,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<PasswordSetup, PasswordError> {
        let held = issuer.role();
        if !matches!(held, Role::Administrator | Role::InvitingMember) {
            return Err(GroupError::RoleRequired { needed: Role::InvitingMember, held }.into());
        }
        if !held.may_issue(options.role) {
            return Err(GroupError::RoleNotIssuable { issuer: held, role: options.role }.into());
        }
        if options.validity.is_zero() {
            return Err(GroupError::InvalidArgument(
                "the validity of issued certificates is zero".into(),
            )
            .into());
        }
        let password = password_bytes(password)?;
        let group = issuer.chain.group_name();
        let crypto = |_| PasswordError::Crypto("registration");
        let server_setup = ServerSetup::<Suite>::new(rng);
        let start = ClientRegistration::<Suite>::start(rng, &password).map_err(crypto)?;
        let credential_id = group.to_string();
        let response = ServerRegistration::<Suite>::start(
            &server_setup,
            start.message,
            credential_id.as_bytes(),
        )
        .map_err(crypto)?;
        let response = RegistrationResponse::<Suite>::deserialize(&response.message.serialize())
            .map_err(crypto)?;
        let server_id = identifier(SERVER_ID_DOMAIN, &group);
        let client_id = identifier(CLIENT_ID_DOMAIN, &group);
        let stretch = ksf(KSF_ARGON2ID_19M_T2)?;
        let finish = start
            .state
            .finish(
                rng,
                &password,
                response,
                ClientRegistrationFinishParameters::new(
                    Identifiers { client: Some(&client_id), server: Some(&server_id) },
                    Some(&stretch),
                ),
            )
            .map_err(crypto)?;
        let record = ServerRegistration::<Suite>::finish(finish.message);
        let mut password_id = [0u8; 16];
        rng.fill_bytes(&mut password_id);
        Ok(PasswordSetup {
            group,
            password_id,
            role: options.role,
            validity: options.validity,
            ksf: KSF_ARGON2ID_19M_T2,
            created: now,
            failures: 0,
            server_setup: Zeroizing::new(server_setup.serialize().to_vec()),
            record: record.serialize().to_vec(),
        })
    }

    /// The group.
    pub fn group(&self) -> &PeerName {
        &self.group
    }
    /// The random id of this password (a new one for every new password).
    pub fn password_id(&self) -> &[u8; 16] {
        &self.password_id
    }
    /// The role joiners get.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Validity of issued certificates.
    pub fn validity(&self) -> Duration {
        self.validity
    }
    /// When the password was set.
    pub fn created(&self) -> UnixTime {
        self.created
    }
    /// Failed attempts counted against this password.
    pub fn failures(&self) -> u32 {
        self.failures
    }
    /// Whether the password is locked ([`MAX_FAILURES`] failures).
    pub fn is_locked(&self) -> bool {
        self.failures >= MAX_FAILURES
    }

    pub(crate) fn server_setup(&self) -> Result<ServerSetup<Suite>, PasswordError> {
        ServerSetup::<Suite>::deserialize(&self.server_setup)
            .map_err(|_| PasswordError::Crypto("stored server setup"))
    }

    pub(crate) fn record(&self) -> Result<ServerRegistration<Suite>, PasswordError> {
        ServerRegistration::<Suite>::deserialize(&self.record)
            .map_err(|_| PasswordError::Crypto("stored registration record"))
    }

    /// The binary form (§13.5): `version: u8 = 1` ‖ group (str16) ‖ password id `[16]` ‖
    /// role u8 ‖ validity u64 s ‖ ksf u8 ‖ created (time) ‖ failures u32 ‖ server setup
    /// `[128]` ‖ record `[192]`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::with_capacity(512);
        w.u8(1);
        w.var(self.group.to_string().as_bytes());
        w.bytes(&self.password_id);
        w.u8(self.role.code());
        w.u64(self.validity.as_secs());
        w.u8(self.ksf);
        w.u64(self.created.as_millis());
        w.u32(self.failures);
        w.bytes(&self.server_setup);
        w.bytes(&self.record);
        Zeroizing::new(w.0)
    }

    /// Decodes [`to_bytes`](Self::to_bytes), checking the OPAQUE values parse.
    pub fn from_bytes(b: &[u8]) -> Result<PasswordSetup, PasswordError> {
        if b.len() > MAX_SETUP_FILE_BYTES {
            return Err(DecodeError::TooLarge {
                what: "password setup",
                len: b.len(),
                max: MAX_SETUP_FILE_BYTES,
            }
            .into());
        }
        let mut r = Reader::new(b);
        let v = r.u8("version")?;
        if v != 1 {
            return Err(DecodeError::UnsupportedVersion { what: "password setup", got: v }.into());
        }
        let g = r.str("group", 700)?;
        let group = PeerName::parse_encoded(g)
            .map_err(|reason| DecodeError::InvalidClassifier { field: "group", reason })?;
        let password_id = r.array("password id")?;
        let role = Role::from_code(r.u8("role")?)?;
        if matches!(role, Role::Root) {
            return Err(DecodeError::InvalidField { field: "role", reason: "root" }.into());
        }
        let validity = Duration::from_secs(r.u64("validity")?);
        let ksf = r.u8("ksf")?;
        let created = UnixTime::from_millis(r.u64("created")?);
        let failures = r.u32("failures")?;
        let server_setup = Zeroizing::new(r.take(SERVER_SETUP_BYTES, "server setup")?.to_vec());
        let record = r.take(RECORD_BYTES, "record")?.to_vec();
        r.finish()?;
        let setup = PasswordSetup {
            group,
            password_id,
            role,
            validity,
            ksf,
            created,
            failures,
            server_setup,
            record,
        };
        super::ksf(setup.ksf)?;
        setup.server_setup()?;
        setup.record()?;
        Ok(setup)
    }

    /// Writes the setup to `path`: owner-only, atomically, fsynced (like the group key).
    /// The file is a line `peergroup password setup v1`, then the binary form in hex.
    pub fn save(&self, path: &Path) -> Result<(), PasswordError> {
        let mut text = Zeroizing::new(String::with_capacity(1100));
        text.push_str(FILE_HEADER);
        text.push('\n');
        text.push_str(&hex::encode(self.to_bytes().as_slice()));
        text.push('\n');
        peergroup_identity::store::write_private_file(path, text.as_bytes()).map_err(|e| {
            PasswordError::Io {
                operation: "write password setup",
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })
    }

    /// Reads a setup written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<PasswordSetup, PasswordError> {
        let io = |reason: String| PasswordError::Io {
            operation: "read password setup",
            path: path.display().to_string(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
        if meta.len() > 2 * MAX_SETUP_FILE_BYTES as u64 + 64 {
            return Err(io("the file is larger than a password setup".into()));
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?);
        let mut lines = text.lines();
        if lines.next() != Some(FILE_HEADER) {
            return Err(io("not a password setup file".into()));
        }
        let body = lines
            .next()
            .and_then(|l| hex::decode(l.trim()).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| io("the body line is not hex".into()))?;
        Self::from_bytes(&body)
    }
}
