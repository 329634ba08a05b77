//! The process's resident set size, for tests that print memory growth (Linux: `/proc`; `None`
//! elsewhere).

/// Resident bytes now, or `None` where `/proc/self/statm` cannot be read.
pub fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages: every platform with this file that the crate's CI runs on.
    Some(pages * 4096)
}
