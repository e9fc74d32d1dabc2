//! Ctrl-C / SIGTERM handling: the handler only sets a flag.
//!
//! Why a flag: healing (nft table deletion, SIGCONT, killing nodes) must run
//! in normal code, not in a signal handler; the run's loops poll the flag and
//! return, and the guards' `Drop` does the cleanup.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once SIGINT or SIGTERM arrived.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Async-signal-safe: one atomic store.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM (idempotent).
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only performs an atomic store, which is
    // async-signal-safe; signal(2) with a valid function pointer.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
