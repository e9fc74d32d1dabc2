//! Structured logs through `tracing`, with Redis's level names accepted.
//!
//! Why a reload handle: `CONFIG SET loglevel` must take effect at once, as
//! in Redis, without restarting; `RUST_LOG` still overrides everything for
//! debugging.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

type Handle = reload::Handle<EnvFilter, Registry>;

static RELOAD: OnceLock<Handle> = OnceLock::new();

/// Maps Redis's level names to a tracing filter; other strings are taken
/// as tracing filter directives.
pub fn filter_for(level: &str) -> String {
    match level {
        "debug" => "debug".into(),
        "verbose" => "info,slotraft_server=debug".into(),
        "notice" => "info".into(),
        "warning" => "warn".into(),
        "nothing" => "off".into(),
        other => other.into(),
    }
}

fn make_filter(level: &str) -> EnvFilter {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::try_new(filter_for(level)).unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// Installs the global subscriber (logs to stderr). Idempotent.
pub fn init(level: &str) {
    let (layer, handle) = reload::Layer::new(make_filter(level));
    let ok = tracing_subscriber::registry()
        .with(layer)
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init()
        .is_ok();
    if ok {
        let _ = RELOAD.set(handle);
    }
}

/// Applies a new level (CONFIG SET loglevel).
pub fn apply_loglevel(level: &str) {
    if let Some(h) = RELOAD.get() {
        let _ = h.modify(|f| *f = make_filter(level));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_levels_map() {
        assert_eq!(filter_for("warning"), "warn");
        assert_eq!(filter_for("notice"), "info");
        assert_eq!(filter_for("info,foo=debug"), "info,foo=debug");
    }
}
