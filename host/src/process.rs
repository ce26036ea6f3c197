//! Settings of the whole process that runs a node (or measures one).

/// Turns transparent huge pages off for this process, as TiKV and Redis advise. The
/// allocator hands freed memory back to the kernel and faults it in again when it needs it;
/// each fault on a huge page zeroes 2 MiB where a few KiB were wanted. In the busy-cell
/// benchmark that zeroing was 5% of the machine in the apply threads alone, and with it off
/// the p99 of 4 and 16 clients halved (README, "Benchmarks"). The apply benchmarks call it
/// too, so that they measure what a node runs.
#[cfg(target_os = "linux")]
pub fn without_transparent_huge_pages() {
    // Safety: PR_SET_THP_DISABLE takes integers and touches no memory of ours. A kernel
    // without it (before 3.15) refuses it, and the process runs on with huge pages.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

#[cfg(not(target_os = "linux"))]
pub fn without_transparent_huge_pages() {}
