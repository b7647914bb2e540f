//! Files and directories only their owner can read: Unix permission bits, or on Windows an
//! explicit access-control list.
//!
//! On Windows, a file's access-control list (DACL) is usually inherited from its folder.
//! The per-user `%APPDATA%` folder's inherited list grants the user, SYSTEM and the
//! Administrators group, but a data directory given with `--data-dir` (or
//! `PEERGROUP_DATA_DIR`) can be anywhere, for example under `C:\` where every local user may
//! read. So private files get an explicit, protected DACL (inheritance from the folder cut)
//! with one entry: full access for the user this process runs as (the token's user SID).
//! Administrators can still take ownership, as on Unix root can read anything.

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
/// assert!(peergroup_os::is_owner_only(&key)?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn restrict_to_owner(path: &Path) -> io::Result<()> {
    imp::restrict_to_owner(path)
}

/// `true` if only the user this process runs as can access `path`: on Unix no group or
/// other permission bits; on Windows a protected DACL (not inherited) whose entries all
/// grant access to that user alone.
pub fn is_owner_only(path: &Path) -> io::Result<bool> {
    imp::is_owner_only(path)
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

    pub(super) fn is_owner_only(path: &Path) -> io::Result<bool> {
        Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 == 0)
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    use std::io;
    use std::path::Path;

    pub(super) fn restrict_to_owner(_path: &Path) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no owner-only files on this OS"))
    }

    pub(super) fn is_owner_only(_path: &Path) -> io::Result<bool> {
        Ok(false)
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod imp {
    use std::ffi::c_void;
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr::{null, null_mut};

    use windows_sys::Win32::Foundation::{CloseHandle, ERROR_SUCCESS, HANDLE, LocalFree};
    use windows_sys::Win32::Security::Authorization::{
        GetNamedSecurityInfoW, SE_FILE_OBJECT, SetNamedSecurityInfoW,
    };
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_REVISION, ACL_SIZE_INFORMATION,
        AclSizeInformation, AddAccessAllowedAceEx, CONTAINER_INHERIT_ACE,
        DACL_SECURITY_INFORMATION, EqualSid, GetAce, GetAclInformation, GetLengthSid,
        GetSecurityDescriptorControl, GetTokenInformation, InitializeAcl, IsValidSid,
        OBJECT_INHERIT_ACE, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
        SE_DACL_PROTECTED, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::Storage::FileSystem::FILE_ALL_ACCESS;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;

    /// A SID, copied into memory aligned for it (a SID holds `u32` sub-authorities).
    struct Sid(Vec<u32>);

    impl Sid {
        fn as_psid(&self) -> PSID {
            self.0.as_ptr().cast_mut().cast()
        }
    }

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
        copy_sid(sid)
    }

    /// Copies a valid SID into a [`Sid`].
    fn copy_sid(sid: PSID) -> io::Result<Sid> {
        // SAFETY: IsValidSid and GetLengthSid only read the SID the caller holds alive.
        let len = unsafe {
            if IsValidSid(sid) == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid SID"));
            }
            GetLengthSid(sid) as usize
        };
        let mut out = vec![0u32; len.div_ceil(4)];
        // SAFETY: `sid` is valid for `len` bytes (GetLengthSid); `out` holds at least `len`.
        unsafe { std::ptr::copy_nonoverlapping(sid.cast::<u8>(), out.as_mut_ptr().cast(), len) };
        Ok(Sid(out))
    }

    fn wide(path: &Path) -> Vec<u16> {
        path.as_os_str().encode_wide().chain(std::iter::once(0)).collect()
    }

    pub(super) fn restrict_to_owner(path: &Path) -> io::Result<()> {
        let is_dir = std::fs::metadata(path)?.is_dir();
        let user = current_user()?;
        // SAFETY: the SID is valid (copied by copy_sid).
        let sid_len = unsafe { GetLengthSid(user.as_psid()) } as usize;
        // an ACL header, one ACCESS_ALLOWED_ACE whose SidStart is the SID's first 4 bytes
        let acl_len = std::mem::size_of::<ACL>() + std::mem::size_of::<ACCESS_ALLOWED_ACE>()
            - std::mem::size_of::<u32>()
            + sid_len;
        let mut acl = vec![0u32; acl_len.div_ceil(4)];
        let acl_bytes = u32::try_from(acl.len() * 4)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "SID too long"))?;
        let acl_ptr: *mut ACL = acl.as_mut_ptr().cast();
        let flags = if is_dir { OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE } else { 0 };
        // SAFETY: `acl` is writable, 4-byte aligned and `acl_bytes` long, room for the
        // header and the one ACE with this SID; the SID is valid.
        let ok = unsafe {
            InitializeAcl(acl_ptr, acl_bytes, ACL_REVISION) != 0
                && AddAccessAllowedAceEx(
                    acl_ptr,
                    ACL_REVISION,
                    flags,
                    FILE_ALL_ACCESS,
                    user.as_psid(),
                ) != 0
        };
        if !ok {
            return Err(io::Error::last_os_error());
        }
        let name = wide(path);
        // SAFETY: `name` is NUL-terminated; the ACL was built above and outlives the call;
        // no owner, group or SACL is passed (null: left unchanged).
        let rc = unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                null_mut(),
                null_mut(),
                acl_ptr,
                null(),
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(io::Error::from_raw_os_error(rc as i32));
        }
        Ok(())
    }

    pub(super) fn is_owner_only(path: &Path) -> io::Result<bool> {
        let user = current_user()?;
        let name = wide(path);
        let mut dacl: *mut ACL = null_mut();
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: `name` is NUL-terminated; `dacl` and `sd` are writable; the descriptor
        // returned is freed below with LocalFree, and `dacl` points into it.
        let rc = unsafe {
            GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                null_mut(),
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
        let sd = Descriptor(sd);
        let mut control = 0u16;
        let mut revision = 0u32;
        // SAFETY: a valid descriptor; both outputs writable.
        if unsafe { GetSecurityDescriptorControl(sd.0, &mut control, &mut revision) } == 0 {
            return Err(io::Error::last_os_error());
        }
        if control & SE_DACL_PROTECTED == 0 || dacl.is_null() {
            // inherited, or no DACL at all (everyone has access)
            return Ok(false);
        }
        let mut info = ACL_SIZE_INFORMATION::default();
        // SAFETY: `dacl` points into the live descriptor; `info` is writable and sized.
        let ok = unsafe {
            GetAclInformation(
                dacl,
                (&mut info as *mut ACL_SIZE_INFORMATION).cast::<c_void>(),
                std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
                AclSizeInformation,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        if info.AceCount == 0 {
            return Ok(false); // nobody at all, not even the owner
        }
        for i in 0..info.AceCount {
            let mut ace: *mut c_void = null_mut();
            // SAFETY: `i` < AceCount of this live ACL; `ace` is writable.
            if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: GetAce returned a pointer to an ACE inside the ACL, which starts with
            // an ACE_HEADER; an ACCESS_ALLOWED_ACE's SID starts at SidStart.
            let same_user = unsafe {
                let header = &*ace.cast::<ACE_HEADER>();
                header.AceType == ACCESS_ALLOWED_ACE_TYPE && {
                    let sid = &raw mut (*ace.cast::<ACCESS_ALLOWED_ACE>()).SidStart;
                    EqualSid(sid.cast(), user.as_psid()) != 0
                }
            };
            if !same_user {
                return Ok(false);
            }
        }
        Ok(true)
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
        let file = sub.join("key");
        std::fs::write(&file, b"").unwrap();
        if cfg!(windows) {
            assert!(!is_owner_only(&file).unwrap(), "a new file inherits its folder's ACL");
        }
        restrict_to_owner(&sub).unwrap();
        restrict_to_owner(&file).unwrap();
        assert!(is_owner_only(&sub).unwrap());
        assert!(is_owner_only(&file).unwrap());
        // still usable by the owner
        std::fs::write(&file, b"secret").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"secret");
        assert!(restrict_to_owner(&dir.path().join("missing")).is_err());
    }
}
