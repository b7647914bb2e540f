//! Windows access-control lists as plain bytes and data, and OpenSSH's rule for private
//! files over them.
//!
//! No OS calls and no `unsafe`: [`crate::private`] copies a file's owner and DACL out of the
//! security descriptor Windows returns and decodes them here, and builds here the one-entry
//! DACL it sets. Compiled on Windows and in tests on every OS, so that the encoding, the
//! decoding (of any bytes, without panicking) and the rule are checked on Linux too.
//!
//! The binary forms are Microsoft's (MS-DTYP §2.4.2 SID, §2.4.4 ACE, §2.4.5 ACL), all
//! integers little-endian except a SID's 6-byte identifier authority (big-endian).

use std::fmt;

/// `ACL_REVISION`: the revision of an ACL holding only the basic allow and deny entries.
const ACL_REVISION: u8 = 2;
/// `ACCESS_ALLOWED_ACE_TYPE`.
const ALLOW: u8 = 0;
/// `ACCESS_DENIED_ACE_TYPE`.
const DENY: u8 = 1;
/// `OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE`: the entry also applies to the files and
/// directories later created inside a directory.
pub(crate) const INHERITED_BY_CHILDREN: u8 = 0x01 | 0x02;
/// `FILE_ALL_ACCESS`.
pub(crate) const FILE_ALL_ACCESS: u32 = 0x001F_01FF;

/// A security identifier in its binary form: revision 1, the number of sub-authorities,
/// a 6-byte identifier authority, then the sub-authorities. Always well-formed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Sid(Vec<u8>);

impl Sid {
    /// The SID at the start of `bytes` (which may go on), if well-formed.
    pub(crate) fn decode_prefix(bytes: &[u8]) -> Option<Sid> {
        let (&revision, rest) = bytes.split_first()?;
        let &count = rest.first()?;
        // SID_MAX_SUB_AUTHORITIES is 15
        if revision != 1 || count > 15 {
            return None;
        }
        let len = 8 + 4 * usize::from(count);
        bytes.get(..len).map(|b| Sid(b.to_vec()))
    }

    /// A SID from its authority and sub-authorities.
    fn new(authority: u64, subs: &[u32]) -> Sid {
        let mut b = vec![1, u8::try_from(subs.len()).unwrap_or(15).min(15)];
        b.extend_from_slice(&authority.to_be_bytes()[2..]);
        for s in subs.iter().take(15) {
            b.extend_from_slice(&s.to_le_bytes());
        }
        Sid(b)
    }

    /// S-1-5-18, LocalSystem.
    pub(crate) fn system() -> Sid {
        Sid::new(5, &[18])
    }

    /// S-1-5-32-544, BUILTIN\Administrators.
    pub(crate) fn administrators() -> Sid {
        Sid::new(5, &[32, 544])
    }

    /// The binary form.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The string form, `S-1-5-21-…` (MS-DTYP §2.4.2.1).
impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut authority = [0u8; 8];
        authority[2..].copy_from_slice(&self.0[2..8]);
        let authority = u64::from_be_bytes(authority);
        if authority < 1 << 32 {
            write!(f, "S-1-{authority}")?;
        } else {
            write!(f, "S-1-0x{authority:012X}")?;
        }
        for sub in self.0[8..].chunks_exact(4) {
            write!(f, "-{}", u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One entry of a DACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `ACCESS_ALLOWED_ACE`: grants `mask` to `sid`.
    Allow { flags: u8, mask: u32, sid: Sid },
    /// `ACCESS_DENIED_ACE`: denies `mask` to `sid`.
    Deny { flags: u8, mask: u32, sid: Sid },
    /// Any other type (object, callback, audit…), by its type number.
    Other { ace_type: u8 },
}

/// Why an ACL's bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(&'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed access-control list: {}", self.0)
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The size an ACL says it has (bytes 2–3 of its 8-byte header), to know how many bytes to
/// copy before decoding it.
pub(crate) fn acl_size(header: &[u8; 8]) -> usize {
    usize::from(u16::from_le_bytes([header[2], header[3]]))
}

/// Decodes an ACL: its 8-byte header, then `AceCount` entries, each starting with its
/// type, flags and size. Any bytes decode or fail with [`Malformed`]; none panic.
pub(crate) fn decode_acl(bytes: &[u8]) -> Result<Vec<Entry>, Malformed> {
    let size = u16_at(bytes, 2).ok_or(Malformed("shorter than its header"))?;
    let count = u16_at(bytes, 4).ok_or(Malformed("shorter than its header"))?;
    let bytes = bytes.get(..usize::from(size)).ok_or(Malformed("shorter than its size"))?;
    let mut at = 8;
    let mut entries = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let ace_type = *bytes.get(at).ok_or(Malformed("an entry past its end"))?;
        let flags = *bytes.get(at + 1).ok_or(Malformed("an entry past its end"))?;
        let ace_size =
            usize::from(u16_at(bytes, at + 2).ok_or(Malformed("an entry past its end"))?);
        if ace_size < 4 {
            return Err(Malformed("an entry shorter than its header"));
        }
        let ace = bytes.get(at..at + ace_size).ok_or(Malformed("an entry past its end"))?;
        entries.push(match ace_type {
            ALLOW | DENY => {
                let mask = ace
                    .get(4..8)
                    .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
                    .ok_or(Malformed("an entry without its mask"))?;
                let sid = Sid::decode_prefix(&ace[8..])
                    .ok_or(Malformed("an entry without a valid SID"))?;
                if ace_type == ALLOW {
                    Entry::Allow { flags, mask, sid }
                } else {
                    Entry::Deny { flags, mask, sid }
                }
            }
            other => Entry::Other { ace_type: other },
        });
        at += ace_size;
    }
    Ok(entries)
}

/// Encodes an ACL of allow and deny entries (revision 2); `None` if it would not fit the
/// 16-bit size field. [`Entry::Other`] cannot be encoded and is left out.
pub(crate) fn encode_acl(entries: &[Entry]) -> Option<Vec<u8>> {
    let mut aces = Vec::new();
    let mut count = 0u16;
    for entry in entries {
        let (ace_type, flags, mask, sid) = match entry {
            Entry::Allow { flags, mask, sid } => (ALLOW, flags, mask, sid),
            Entry::Deny { flags, mask, sid } => (DENY, flags, mask, sid),
            Entry::Other { .. } => continue,
        };
        let ace_size = u16::try_from(8 + sid.as_bytes().len()).ok()?;
        aces.extend_from_slice(&[ace_type, *flags]);
        aces.extend_from_slice(&ace_size.to_le_bytes());
        aces.extend_from_slice(&mask.to_le_bytes());
        aces.extend_from_slice(sid.as_bytes());
        count = count.checked_add(1)?;
    }
    let size = u16::try_from(8 + aces.len()).ok()?;
    let mut acl = vec![ACL_REVISION, 0];
    acl.extend_from_slice(&size.to_le_bytes());
    acl.extend_from_slice(&count.to_le_bytes());
    acl.extend_from_slice(&[0, 0]);
    acl.extend_from_slice(&aces);
    Some(acl)
}

/// Why a file's security does not make it private to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotOwnerOnly {
    /// No DACL at all: everyone has full access.
    NoDacl,
    /// An empty DACL: nobody, not even the owner, has access.
    EmptyDacl,
    /// The file is owned by someone else, who may rewrite its DACL.
    ForeignOwner(Sid),
    /// An entry grants access to someone else.
    Grants { sid: Sid, mask: u32 },
    /// An entry of a type this check does not understand (object or callback entries).
    UnknownEntry(u8),
}

impl fmt::Display for NotOwnerOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotOwnerOnly::NoDacl => write!(f, "no DACL: everyone has access"),
            NotOwnerOnly::EmptyDacl => write!(f, "an empty DACL: not even the owner has access"),
            NotOwnerOnly::ForeignOwner(sid) => write!(f, "owned by {sid}, another user"),
            NotOwnerOnly::Grants { sid, mask } => {
                write!(f, "the DACL grants {sid} access (mask {mask:#x})")
            }
            NotOwnerOnly::UnknownEntry(t) => write!(f, "the DACL holds an entry of type {t}"),
        }
    }
}

/// OpenSSH for Windows' rule for private key files (`check_secure_file_permission`): the
/// owner is `user`, SYSTEM or Administrators, and every allowing entry of the DACL is for
/// one of those three. SYSTEM and Administrators are allowed because they can take
/// any file anyway, as root can on Unix. Deny entries take nothing away from the check;
/// entries of any other type count against it.
pub(crate) fn check_owner_only(
    owner: Option<&Sid>,
    dacl: Option<&[Entry]>,
    user: &Sid,
) -> Result<(), NotOwnerOnly> {
    let trusted = [user.clone(), Sid::system(), Sid::administrators()];
    if let Some(owner) = owner
        && !trusted.contains(owner)
    {
        return Err(NotOwnerOnly::ForeignOwner(owner.clone()));
    }
    let dacl = dacl.ok_or(NotOwnerOnly::NoDacl)?;
    if dacl.is_empty() {
        return Err(NotOwnerOnly::EmptyDacl);
    }
    for entry in dacl {
        match entry {
            Entry::Allow { sid, mask, .. } => {
                if !trusted.contains(sid) {
                    return Err(NotOwnerOnly::Grants { sid: sid.clone(), mask: *mask });
                }
            }
            Entry::Deny { .. } => {}
            Entry::Other { ace_type } => return Err(NotOwnerOnly::UnknownEntry(*ace_type)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Sid {
        Sid::new(5, &[21, 1_111_111, 2_222_222, 3_333_333, 1001])
    }

    fn other_user() -> Sid {
        Sid::new(5, &[21, 1_111_111, 2_222_222, 3_333_333, 1002])
    }

    /// S-1-1-0, Everyone.
    fn everyone() -> Sid {
        Sid::new(1, &[0])
    }

    fn allow(sid: Sid) -> Entry {
        Entry::Allow { flags: 0, mask: FILE_ALL_ACCESS, sid }
    }

    #[test]
    fn sids_print_in_their_string_form() {
        assert_eq!(Sid::system().to_string(), "S-1-5-18");
        assert_eq!(Sid::administrators().to_string(), "S-1-5-32-544");
        assert_eq!(user().to_string(), "S-1-5-21-1111111-2222222-3333333-1001");
        assert_eq!(Sid::new(1 << 40, &[7]).to_string(), "S-1-0x010000000000-7");
        // the binary form of S-1-5-32-544, as MS-DTYP §2.4.2.2 gives it
        assert_eq!(
            Sid::administrators().as_bytes(),
            [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0]
        );
    }

    #[test]
    fn sids_decode_from_the_front_of_longer_bytes_and_refuse_damage() {
        let mut b = user().as_bytes().to_vec();
        b.extend_from_slice(&[9, 9, 9]);
        assert_eq!(Sid::decode_prefix(&b), Some(user()));
        assert_eq!(Sid::decode_prefix(&b[..10]), None, "cut short");
        assert_eq!(Sid::decode_prefix(&[2, 0, 0, 0, 0, 0, 0, 5]), None, "revision 2");
        assert_eq!(Sid::decode_prefix(&[1, 16]), None, "16 sub-authorities");
        assert_eq!(Sid::decode_prefix(&[]), None);
    }

    #[test]
    fn the_one_entry_acl_encodes_as_windows_lays_it_out_and_decodes_back() {
        let entries = [Entry::Allow {
            flags: INHERITED_BY_CHILDREN,
            mask: FILE_ALL_ACCESS,
            sid: Sid::system(),
        }];
        let acl = encode_acl(&entries).unwrap();
        #[rustfmt::skip]
        let expected = [
            2, 0, 28, 0, 1, 0, 0, 0,        // revision 2, size 28, one entry
            0, 3, 20, 0,                    // allowed, OI|CI, entry size 20
            0xFF, 0x01, 0x1F, 0x00,         // FILE_ALL_ACCESS
            1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0, // S-1-5-18
        ];
        assert_eq!(acl, expected);
        let header: [u8; 8] = acl[..8].try_into().unwrap();
        assert_eq!(acl_size(&header), 28);
        assert_eq!(decode_acl(&acl).unwrap(), entries);
    }

    #[test]
    fn damaged_acls_are_refused_by_name_and_never_panic() {
        let good = encode_acl(&[allow(user()), allow(Sid::system())]).unwrap();
        assert_eq!(decode_acl(&good[..5]), Err(Malformed("shorter than its header")));
        assert_eq!(decode_acl(&good[..good.len() - 1]), Err(Malformed("shorter than its size")));
        let mut count_too_high = good.clone();
        count_too_high[4] = 3;
        assert_eq!(decode_acl(&count_too_high), Err(Malformed("an entry past its end")));
        let mut tiny_entry = good.clone();
        tiny_entry[10] = 2;
        assert_eq!(decode_acl(&tiny_entry), Err(Malformed("an entry shorter than its header")));
        let mut bad_sid = good.clone();
        bad_sid[16] = 9; // the first entry's SID revision
        assert_eq!(decode_acl(&bad_sid), Err(Malformed("an entry without a valid SID")));
        // every cut and every single-byte change of a good ACL decodes or fails cleanly
        for n in 0..good.len() {
            let _ = decode_acl(&good[..n]);
            for v in [0u8, 1, 0x7F, 0xFF] {
                let mut b = good.clone();
                b[n] = v;
                let _ = decode_acl(&b);
            }
        }
    }

    #[test]
    fn openssh_rule_allows_only_the_user_system_and_administrators() {
        let ok = |owner: Option<&Sid>, dacl: &[Entry]| check_owner_only(owner, Some(dacl), &user());
        // what restrict_to_owner sets
        assert_eq!(ok(Some(&user()), &[allow(user())]), Ok(()));
        // what a per-user profile folder passes on
        let profile = [allow(Sid::system()), allow(Sid::administrators()), allow(user())];
        assert_eq!(ok(Some(&user()), &profile), Ok(()));
        assert_eq!(ok(Some(&Sid::administrators()), &profile), Ok(()));
        // a deny entry for anyone takes nothing away
        let deny = Entry::Deny { flags: 0, mask: FILE_ALL_ACCESS, sid: everyone() };
        assert_eq!(ok(Some(&user()), &[deny, allow(user())]), Ok(()));

        assert_eq!(
            ok(Some(&user()), &[allow(user()), allow(everyone())]),
            Err(NotOwnerOnly::Grants { sid: everyone(), mask: FILE_ALL_ACCESS })
        );
        assert_eq!(
            ok(Some(&other_user()), &[allow(user())]),
            Err(NotOwnerOnly::ForeignOwner(other_user()))
        );
        assert_eq!(
            ok(Some(&user()), &[allow(user()), Entry::Other { ace_type: 5 }]),
            Err(NotOwnerOnly::UnknownEntry(5))
        );
        assert_eq!(ok(Some(&user()), &[]), Err(NotOwnerOnly::EmptyDacl));
        assert_eq!(check_owner_only(Some(&user()), None, &user()), Err(NotOwnerOnly::NoDacl));
        assert_eq!(
            NotOwnerOnly::Grants { sid: everyone(), mask: 0x1200a9 }.to_string(),
            "the DACL grants S-1-1-0 access (mask 0x1200a9)"
        );
    }
}
