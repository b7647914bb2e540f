//! Peak resident memory of the process.

/// The most physical memory this process has held at once, in bytes: `ru_maxrss` of
/// `getrusage(RUSAGE_SELF)` on Unix (kilobytes on Linux and the BSDs, bytes on macOS; on
/// Linux the same figure as `VmHWM` in `/proc/self/status`), `PeakWorkingSetSize` of
/// `GetProcessMemoryInfo` on Windows. `None` if the OS does not say (or on another OS).
///
/// ```
/// let peak = peergroup_os::peak_rss_bytes().expect("measured on Linux, macOS and Windows");
/// assert!(peak > 0);
/// ```
pub fn peak_rss_bytes() -> Option<u64> {
    imp::peak_rss_bytes()
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod imp {
    pub(super) fn peak_rss_bytes() -> Option<u64> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` is a writable `rusage` (zeroed, so every field is initialised);
        // getrusage only writes through the pointer, and RUSAGE_SELF is always valid.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: zeroed above and filled by a successful getrusage.
        let usage = unsafe { usage.assume_init() };
        let max = u64::try_from(usage.ru_maxrss).ok()?;
        if cfg!(any(target_os = "macos", target_os = "ios")) {
            Some(max)
        } else {
            max.checked_mul(1024)
        }
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod imp {
    use windows_sys::Win32::System::ProcessStatus::{
        K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    use windows_sys::Win32::System::Threading::GetCurrentProcess;

    pub(super) fn peak_rss_bytes() -> Option<u64> {
        let size = u32::try_from(std::mem::size_of::<PROCESS_MEMORY_COUNTERS>()).ok()?;
        let mut counters = std::mem::MaybeUninit::<PROCESS_MEMORY_COUNTERS>::zeroed();
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing; `counters`
        // is a writable PROCESS_MEMORY_COUNTERS of exactly `size` bytes, as the call needs.
        let ok =
            unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), counters.as_mut_ptr(), size) };
        if ok == 0 {
            return None;
        }
        // SAFETY: zeroed above and filled by a successful call.
        let counters = unsafe { counters.assume_init() };
        u64::try_from(counters.PeakWorkingSetSize).ok()
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    pub(super) fn peak_rss_bytes() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_grows_with_touched_memory() {
        let before = super::peak_rss_bytes().unwrap();
        assert!(before > 1 << 20, "a running test process holds more than 1 MiB: {before}");
        // Touch more than the whole peak so far plus 64 MiB: the peak must grow whatever
        // the process freed before (a smaller block could fit under an earlier peak).
        let block = vec![1u8; before as usize + (64 << 20)];
        std::hint::black_box(&block);
        let after = super::peak_rss_bytes().unwrap();
        assert!(after >= before + (32 << 20), "{before} -> {after}");
    }
}
