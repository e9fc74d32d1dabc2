//! ZSet commands (ZADD ... ZSCAN ZRANDMEMBER BZPOPMIN BZPOPMAX BZMPOP). OWNED BY K2 (lists/sets/zsets helper).
//!
//! How to write a handler here (the core's contract):
//! - Register it in `HANDLERS` as `("name", Handler::Read(f))` (never
//!   mutates; `fn(&Db, &[Bytes], now_ms) -> CmdResult`),
//!   `Handler::Write(f)` (`fn(&mut Db, &[Bytes], &ExecCtx) -> CmdResult`)
//!   or `Handler::Blocking(f)` (returns `Outcome::Block(BlockSpec)` when
//!   nothing is available and `ctx.may_block`; otherwise replies like Redis
//!   in MULTI, i.e. a null). Arity is checked before the handler runs
//!   (metadata generated from Redis 7.0 in `meta.rs`); key positions come
//!   from the metadata's key specs, nothing to do here.
//! - Typed access: `db.get_typed::<ZSet>(key, now)` (read; expired keys are
//!   absent) -> `Result<Option<&ZSet>, WrongType>`; `db.get_mut::<ZSet>(key,
//!   ctx.now_ms)` -> `Result<Option<ValueMut<ZSet>>, WrongType>`;
//!   `db.get_or_create::<ZSet>(key, ctx.now_ms)` creates an empty one.
//!   `?` converts `WrongType` into the WRONGTYPE error reply.
//! - Modification signals are automatic: any `DerefMut` of the `ValueMut`
//!   guard bumps the key's WATCH version when the guard drops, marks a
//!   non-empty list/zset "ready" for blocked clients, and a collection left
//!   empty is deleted after the command. Call `guard.unmodified()` if you
//!   mutably borrowed but changed nothing (keeps WATCH exact).
//! - Whole values: `db.set(key, Value::ZSet(Box::new(x)), SetExpire::Clear, now)`
//!   (STORE variants), `db.delete(key, now)`, `db.take(key, now)`.
//! - Args: `crate::args::{int, float, is, err, ERR_SYNTAX, ERR_NOT_INTEGER,
//!   ERR_WRONGTYPE, ERR_TIMEOUT, scan_opts, cursor, ...}`.
//! - Randomness: `Rng::new(ctx.seed)` (`crate::rng`), never a global RNG; and
//!   pick by content order, not hash-table iteration order (see
//!   `types/set.rs`).

use super::Handler;

/// (name, handler) of every ZSet command.
pub const HANDLERS: &[(&str, Handler)] = &[];
