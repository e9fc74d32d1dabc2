//! Generic key commands (DEL, EXPIRE, SCAN, RENAME, DUMP/RESTORE, ...).

use super::Handler;

pub const HANDLERS: &[(&str, Handler)] = &[];
