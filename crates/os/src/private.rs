//! Files and directories only their owner can read: Unix permission bits, or on Windows an
//! explicit access-control list.
//!
//! On Windows, a file's access-control list (DACL) is usually inherited from its folder.
//! The per-user `%APPDATA%` folder's inherited list grants the user, SYSTEM and the
//! Administrators group, but a data directory given with `--data-dir` (or
//! `PEERGROUP_DATA_DIR`) can be anywhere, for example under `C:\` where every local user may
//! read. So private files get an explicit, protected DACL (`SetNamedSecurityInfoW` with
//! `PROTECTED_DACL_SECURITY_INFORMATION`: inheritance from the folder cut) with one entry:
//! full access for the user this process runs as (the token's user SID), marked inherited by
//! children on a directory. Administrators can still take ownership, as on Unix root can
//! read anything. The ACL's bytes are built and read back by [`crate::acl`], which has no
//! `unsafe` and is tested on every OS.
//!
//! # Under wine
//!
//! CI runs the Windows tests under wine 8.0, which keeps no DACLs: it turns the one it is
//! given into Unix permission bits and reads back a DACL made from those (SYSTEM, the
//! file's owner, and Everyone if "others" have any bit). It also ignores
//! `PROTECTED_DACL_SECURITY_INFORMATION` and adds the folder's inheritable entries, and
//! every folder of a wine prefix is `0755`, so a restricted file ends up `0775` and wine
//! reports Everyone as able to read it. Measured: in a `0700` folder the same call gives
//! `0770` and a DACL of SYSTEM and the user only. So under wine ([`runs_under_wine`]) the
//! tests check what wine can show — that the calls succeed, that the ACL built here is
//! accepted, that the owner is this user and the user's entry grants full access, and
//! that every other entry read back is one the folder passes on — but not the verdict
//! "owner-only", which only real Windows can give.

use std::io;
use std::path::Path;

/// Makes `path` (a file, or a directory and what is later created in it) accessible only to
/// the user this process runs as: mode `0600` for a file, `0700` for a directory on Unix; on
/// Windows a protected DACL with one entry granting that user full access (inherited by
/// what is created inside a directory). Set it on a new, still empty file before writing
/// the secret.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let key = dir.path().join("key");
/// std::fs::write(&key, b"")?;
/// peergroup_os::restrict_to_owner(&key)?;
/// // wine keeps no ACLs (module docs): there only the call itself is checked
/// assert!(peergroup_os::is_owner_only(&key)? || peergroup_os::runs_under_wine());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn restrict_to_owner(path: &Path) -> io::Result<()> {
    imp::restrict_to_owner(path)
}

/// `true` if only its owner can access `path` ([`owner_only_violation`] finds nothing).
pub fn is_owner_only(path: &Path) -> io::Result<bool> {
    Ok(owner_only_violation(path)?.is_none())
}

/// What lets someone other than its owner access `path`, in words, or `None` if nothing
/// does. On Unix: any group or other permission bit. On Windows, OpenSSH's rule for private
/// key files: the owner is the user this process runs as, SYSTEM or the Administrators
/// group, and every allowing entry of the DACL is for one of those three (SYSTEM and
/// Administrators can take any file anyway, as root can read any file on Unix). Under wine
/// see this module's docs for what the answer is worth.
pub fn owner_only_violation(path: &Path) -> io::Result<Option<String>> {
    imp::owner_only_violation(path)
}

/// Whether this is a Windows build running under wine, which keeps no DACLs (see this
/// module's docs): tests use it to leave out the checks only real Windows can pass. Wine's
/// loader sets `WINECONFIGDIR` in the environment of every process it starts.
pub fn runs_under_wine() -> bool {
    cfg!(windows) && std::env::var_os("WINECONFIGDIR").is_some()
}

#[cfg(unix)]
mod imp {
    use std::io;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    pub(super) fn restrict_to_owner(path: &Path) -> io::Result<()> {
        let mode = if std::fs::metadata(path)?.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    pub(super) fn owner_only_violation(path: &Path) -> io::Result<Option<String>> {
        let mode = std::fs::metadata(path)?.permissions().mode();
        Ok((mode & 0o077 != 0)
            .then(|| format!("mode {:o}: its group or others have access", mode & 0o7777)))
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    use std::io;
    use std::path::Path;

    pub(super) fn restrict_to_owner(_path: &Path) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no owner-only files on this OS"))
    }

    pub(super) fn owner_only_violation(_path: &Path) -> io::Result<Option<String>> {
        Ok(Some("this OS has no owner-only files".into()))
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod imp {
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::{null, null_mut};

    use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, LocalFree};
    use windows_sys::Win32::Security::Authorization::{
        GetNamedSecurityInfoW, SE_FILE_OBJECT, SetNamedSecurityInfoW,
    };
    use windows_sys::Win32::Security::{
        ACL, DACL_SECURITY_INFORMATION, GetLengthSid, GetTokenInformation, IsValidSid,
        OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
        PSID, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    use crate::acl::{self, Entry, FILE_ALL_ACCESS, INHERITED_BY_CHILDREN, Sid};

    /// The user SID of this process's token.
    fn current_user() -> io::Result<Sid> {
        let mut token: HANDLE = null_mut();
        // SAFETY: GetCurrentProcess returns a pseudo-handle; `token` is a writable HANDLE.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        struct Token(HANDLE);
        impl Drop for Token {
            fn drop(&mut self) {
                // SAFETY: a handle OpenProcessToken returned, closed once.
                unsafe { CloseHandle(self.0) };
            }
        }
        let token = Token(token);
        let mut len = 0u32;
        // SAFETY: a size query: no buffer, `len` receives the size needed.
        unsafe { GetTokenInformation(token.0, TokenUser, null_mut(), 0, &mut len) };
        if (len as usize) < std::mem::size_of::<TOKEN_USER>() {
            return Err(io::Error::last_os_error());
        }
        // u64 words: aligned for TOKEN_USER (a pointer and a u32)
        let mut buf = vec![0u64; (len as usize).div_ceil(8)];
        // SAFETY: `buf` is writable, aligned for TOKEN_USER and at least `len` bytes long.
        let ok = unsafe {
            GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len)
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: GetTokenInformation filled `buf` with a TOKEN_USER, whose SID pointer
        // points into `buf` itself (alive here).
        let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
        // SAFETY: the SID lives in `buf`, alive for the call.
        unsafe { copy_sid(sid) }
    }

    /// Copies a SID out of memory Windows owns.
    ///
    /// # Safety
    /// `sid` points to a SID that stays alive during the call.
    unsafe fn copy_sid(sid: PSID) -> io::Result<Sid> {
        // SAFETY: the caller keeps the SID alive; IsValidSid checks its structure before
        // GetLengthSid reads its length, and the copy reads exactly that many bytes.
        let bytes = unsafe {
            if IsValidSid(sid) == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "an invalid SID"));
            }
            let len = GetLengthSid(sid) as usize;
            std::slice::from_raw_parts(sid.cast::<u8>(), len)
        };
        Sid::decode_prefix(bytes)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "an invalid SID"))
    }

    fn wide(path: &Path) -> Vec<u16> {
        path.as_os_str().encode_wide().chain(std::iter::once(0)).collect()
    }

    pub(super) fn restrict_to_owner(path: &Path) -> io::Result<()> {
        let is_dir = std::fs::metadata(path)?.is_dir();
        let user = current_user()?;
        let flags = if is_dir { INHERITED_BY_CHILDREN } else { 0 };
        let entry = Entry::Allow { flags, mask: FILE_ALL_ACCESS, sid: user };
        let bytes = acl::encode_acl(&[entry])
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a SID too long"))?;
        // u32 words: an ACL is read with 4-byte alignment
        let mut words = vec![0u32; bytes.len().div_ceil(4)];
        for (i, b) in bytes.iter().enumerate() {
            words[i / 4] |= u32::from(*b) << (8 * (i % 4));
        }
        let name = wide(path);
        // SAFETY: `name` is NUL-terminated; `words` holds a well-formed ACL (encode_acl),
        // 4-byte aligned, alive for the call; no owner, group or SACL is passed (null:
        // left unchanged). PROTECTED cuts inheritance from the folder.
        let rc = unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                null_mut(),
                null_mut(),
                words.as_ptr().cast::<ACL>(),
                null(),
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        Ok(())
    }

    /// The owner and DACL entries of `path` (`None`: no DACL, everyone has access), and the
    /// user this process runs as.
    pub(super) fn security(path: &Path) -> io::Result<(Option<Sid>, Option<Vec<Entry>>, Sid)> {
        let user = current_user()?;
        let name = wide(path);
        let mut owner: PSID = null_mut();
        let mut dacl: *mut ACL = null_mut();
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: `name` is NUL-terminated; `owner`, `dacl` and `sd` are writable; the
        // descriptor returned is freed below with LocalFree, and `owner` and `dacl` point
        // into it.
        let rc = unsafe {
            GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                &mut owner,
                null_mut(),
                &mut dacl,
                null_mut(),
                &mut sd,
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        struct Descriptor(PSECURITY_DESCRIPTOR);
        impl Drop for Descriptor {
            fn drop(&mut self) {
                // SAFETY: allocated by GetNamedSecurityInfoW, freed once.
                unsafe { LocalFree(self.0) };
            }
        }
        let _sd = Descriptor(sd);
        let owner = if owner.is_null() {
            None
        } else {
            // SAFETY: `owner` points into the live descriptor.
            Some(unsafe { copy_sid(owner) }?)
        };
        if dacl.is_null() {
            return Ok((owner, None, user));
        }
        // SAFETY: `dacl` points to an ACL inside the live descriptor: an 8-byte header
        // whose size field covers the whole list, which the second read copies.
        let bytes = unsafe {
            let header = std::ptr::read_unaligned(dacl.cast::<[u8; 8]>());
            std::slice::from_raw_parts(dacl.cast::<u8>(), acl::acl_size(&header).max(8)).to_vec()
        };
        let entries = acl::decode_acl(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok((owner, Some(entries), user))
    }

    pub(super) fn owner_only_violation(path: &Path) -> io::Result<Option<String>> {
        let (owner, dacl, user) = security(path)?;
        Ok(acl::check_owner_only(owner.as_ref(), dacl.as_deref(), &user)
            .err()
            .map(|e| e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_directories_become_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("private");
        std::fs::create_dir(&sub).unwrap();
        restrict_to_owner(&sub).unwrap();
        let file = sub.join("key");
        std::fs::write(&file, b"").unwrap();
        restrict_to_owner(&file).unwrap();
        // still usable by the owner
        std::fs::write(&file, b"secret").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"secret");
        check_owner_only(&sub, dir.path());
        check_owner_only(&file, &sub);
        let e = restrict_to_owner(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    fn check_owner_only(path: &Path, _parent: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, if path.is_dir() { 0o700 } else { 0o600 }, "{}", path.display());
        assert_eq!(owner_only_violation(path).unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn group_or_other_bits_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            owner_only_violation(&file).unwrap().as_deref(),
            Some("mode 640: its group or others have access")
        );
        assert!(!is_owner_only(&file).unwrap());
        restrict_to_owner(&file).unwrap();
        assert!(is_owner_only(&file).unwrap());
    }

    /// Real Windows: exactly the one entry `restrict_to_owner` sets, and the verdict. Under
    /// wine (module docs): what wine can show, and the rest of the entries must be ones the
    /// folder passes on (wine ignores the protection).
    #[cfg(windows)]
    fn check_owner_only(path: &Path, parent: &Path) {
        use crate::acl::{Entry, FILE_ALL_ACCESS, INHERITED_BY_CHILDREN};
        let (owner, dacl, user) = imp::security(path).unwrap();
        let dacl = dacl.expect("a DACL");
        assert_eq!(owner.as_ref(), Some(&user), "{} is owned by this user", path.display());
        let mine = Entry::Allow {
            flags: if path.is_dir() { INHERITED_BY_CHILDREN } else { 0 },
            mask: FILE_ALL_ACCESS,
            sid: user.clone(),
        };
        if !runs_under_wine() {
            assert_eq!(dacl, [mine], "{}", path.display());
            assert_eq!(owner_only_violation(path).unwrap(), None);
            if path.is_dir() {
                // what is created inside inherits the one entry
                let later = path.join("later");
                std::fs::write(&later, b"").unwrap();
                assert_eq!(owner_only_violation(&later).unwrap(), None);
            }
            return;
        }
        assert!(dacl.contains(&mine), "{}: the user's entry in {dacl:?}", path.display());
        let (_, from_folder, _) = imp::security(parent).unwrap();
        let from_folder = from_folder.expect("the folder's DACL");
        let inheritable = |e: &Entry| match e {
            Entry::Allow { flags, mask, sid } if flags & INHERITED_BY_CHILDREN != 0 => {
                Some((*mask, sid.clone()))
            }
            _ => None,
        };
        for e in dacl.iter().filter(|e| **e != mine) {
            let Entry::Allow { mask, sid, .. } = e else { panic!("{}: {e:?}", path.display()) };
            assert!(
                from_folder.iter().filter_map(inheritable).any(|f| f == (*mask, sid.clone())),
                "{}: {e:?} is neither the user's entry nor one {} passes on",
                path.display(),
                parent.display()
            );
        }
        eprintln!(
            "under wine, not checked: whether {} is owner-only (wine says: {})",
            path.display(),
            owner_only_violation(path).unwrap().as_deref().unwrap_or("yes")
        );
    }
}
