//! Durable file writes shared by the crates that keep files (graph metadata, caches).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically and durably: a temporary file in the same
/// directory, flushed to disk, renamed over `path`, then the directory flushed
/// ([`sync_dir`]). On Windows std's rename replaces the target even while another handle
/// has it open where it gets POSIX rename semantics (NTFS, Windows 10 1607 and later);
/// elsewhere (older Windows, wine) that write fails instead. Creates the directory. On
/// failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], with the content written by `fill` (for large files written in
/// pieces).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        {
            let mut w = std::io::BufWriter::new(&mut f);
            fill(&mut w)?;
            w.flush()?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(&dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Flushes a directory's entries, so that a rename or removal in it survives a crash. Best
/// effort: the caller's rename or removal has happened either way, and some file systems
/// refuse to flush a directory. See [`try_sync_dir`].
pub fn sync_dir(dir: &Path) {
    let _ = try_sync_dir(dir);
}

/// Flushes a directory's entries: `fsync` on the directory (Unix); on Windows
/// `FlushFileBuffers` on a directory handle (opened with `FILE_FLAG_BACKUP_SEMANTICS`, the
/// only way to open one, and write access, which the flush needs), which makes NTFS commit
/// the renames and removals in it. Elsewhere it does nothing.
pub fn try_sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
        fs::OpenOptions::new()
            .write(true)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
            .open(dir)?
            .sync_all()
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replaces_and_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("f.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let failed = write_atomic_with(&path, |_| Err(std::io::Error::other("boom")));
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn replacing_a_file_another_handle_has_open_is_all_or_nothing() {
        // Linux and macOS replace it. Windows does where std's rename gets POSIX semantics
        // (NTFS, Windows 10 1607 and later); elsewhere (wine 8, where CI runs this) the rename
        // is refused. Either way the file holds the old or the new bytes, and no temporary
        // file is left behind.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"old").unwrap();
        let reader = fs::File::open(&path).unwrap();
        match write_atomic(&path, b"new") {
            Ok(()) => assert_eq!(fs::read(&path).unwrap(), b"new"),
            Err(e) => {
                let windows = cfg!(windows);
                assert!(windows, "only Windows may refuse: {e}");
                assert_eq!(fs::read(&path).unwrap(), b"old");
            }
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(reader);
        write_atomic(&path, b"newer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"newer");
    }

    #[test]
    fn directories_can_be_flushed() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("f"), b"x").unwrap();
        try_sync_dir(dir.path()).unwrap();
        assert!(try_sync_dir(&dir.path().join("missing")).is_err());
    }
}
