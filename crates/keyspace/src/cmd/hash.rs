//! Hash commands.

use super::Handler;

pub const HANDLERS: &[(&str, Handler)] = &[];
