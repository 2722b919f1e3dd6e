//! The ledger: what was applied, exactly once, and where it is kept.
//!
//! A decoded batch comes here second (after [`crate::ingest`] decoded it): [`apply_batch`] skips
//! every seq already done for its agent and applies the rest to working copies of the agent's
//! dedup record and its store's totals; [`Db::commit`] then writes those records, and the rules
//! engine's changed keys, in one durable sled batch. Nothing here does I/O except [`Db`].
//!
//! - [`dedup`]: per-agent applied/lost seq ranges, the committed mark, [`apply_batch`], and the
//!   [`Limits`] on what an agent's events may make the collector record (a forged seq must
//!   never move a mark far ahead nor swell an agent's record);
//! - [`live`]: the committed state in memory ([`Live`], [`Shared`]) and the since-start counters;
//! - [`db`]: the sled database (key layout and durability rules documented there).

pub mod db;
pub mod dedup;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod live;

pub use db::{Changes, Db, DbError, Entry};
pub use dedup::{apply_batch, apply_batch_with, AgentState, Limits, Mark, Outcome, StoreStats};
pub use live::{AgentKey, Counters, Live, Shared, State};
