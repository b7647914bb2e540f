//! The per-user data directory (`proto-specs/identity.md` §8).
//!
//! | OS | default |
//! |---|---|
//! | Windows | `%APPDATA%\peergroup` (the roaming application data folder, in the user's profile) |
//! | macOS | `~/Library/Application Support/peergroup` |
//! | Linux and other Unix | `$XDG_DATA_HOME/peergroup`, else `~/.local/share/peergroup` |
//!
//! The `dirs` crate's `data_dir()` gives exactly these bases. Tools let the user override
//! the whole path (`p2p --data-dir`, or the [`DATA_DIR_ENV`] environment variable).

use std::path::{Path, PathBuf};

use crate::IdentityError;

/// Environment variable that overrides the data directory in the `p2p` tool.
pub const DATA_DIR_ENV: &str = "PEERGROUP_DATA_DIR";

/// Name of our folder inside the OS's per-user data directory.
pub const APP_DIR_NAME: &str = "peergroup";

/// Folder of the identity store inside the data directory.
pub const IDENTITIES_DIR_NAME: &str = "identities";

/// The default per-user data directory (see the module documentation).
pub fn default_data_dir() -> Result<PathBuf, IdentityError> {
    dirs::data_dir().map(|d| d.join(APP_DIR_NAME)).ok_or(IdentityError::NoDataDir)
}

/// `explicit` if given, else [`default_data_dir`].
pub fn data_dir_or_default(explicit: Option<&Path>) -> Result<PathBuf, IdentityError> {
    match explicit {
        Some(p) => Ok(p.to_path_buf()),
        None => default_data_dir(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_wins() {
        let p = Path::new("/tmp/x");
        assert_eq!(data_dir_or_default(Some(p)).unwrap(), p);
        if let Ok(d) = default_data_dir() {
            assert!(d.ends_with(APP_DIR_NAME));
        }
    }

    /// The per-user folder of each OS (README "Platforms"); on Windows this runs under
    /// wine in CI. On Windows the default lies inside the user's profile (whose ACL grants
    /// only the user, SYSTEM and Administrators); private files get an explicit owner-only
    /// ACL anyway (`store`'s module docs), since `--data-dir` may point anywhere.
    #[test]
    fn default_is_the_per_user_folder_of_each_os() {
        let d = default_data_dir().unwrap();
        assert!(d.is_absolute(), "{}", d.display());
        #[cfg(windows)]
        {
            let appdata = std::env::var_os("APPDATA").expect("APPDATA is set on Windows");
            assert_eq!(d, Path::new(&appdata).join(APP_DIR_NAME));
            let profile = std::env::var_os("USERPROFILE").expect("USERPROFILE is set");
            assert!(d.starts_with(&profile), "{} is not in the profile", d.display());
        }
        #[cfg(target_os = "macos")]
        assert!(d.ends_with("Library/Application Support/peergroup"), "{}", d.display());
        #[cfg(target_os = "linux")]
        match std::env::var_os("XDG_DATA_HOME").filter(|x| Path::new(x).is_absolute()) {
            Some(x) => assert_eq!(d, Path::new(&x).join(APP_DIR_NAME)),
            None => assert!(d.ends_with(".local/share/peergroup"), "{}", d.display()),
        }
    }
}
