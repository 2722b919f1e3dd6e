//! The allocator's share of the agent's memory.
//!
//! glibc's malloc gives threads that contend for the heap arenas of their own (up to eight per
//! core) and keeps what is freed inside them: after a backlog drain, the batch buffers and
//! journal reads the drain allocated stay mapped, and an idle agent looks as large as a busy
//! one. The agent is one async runtime whose heap work is light: two arenas serve it, and when
//! a drain ends what is free is handed back to the system at once. Other C libraries: no-ops.

/// Caps glibc's malloc arenas at two. Called first thing in `main`, before any thread exists.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads start.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free heap memory to the system (after a drain: the agent's working set is small
/// again, what it used meanwhile is not).
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it is thread-safe in glibc.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}
