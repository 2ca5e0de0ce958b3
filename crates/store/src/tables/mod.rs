//! The sled store's tables, one module per table of the core's storage
//! traits (`mediation_core::store`): each holds that table's reads and its
//! trait implementation for [`SledStore`](crate::SledStore). Reads go
//! straight to sled and are answered at once on the caller's thread: the
//! trait implementations wrap them in ready futures, and the gateway's own
//! tools, which hold a `SledStore`, call them directly. Writes go through
//! the writer ([`crate::writer`]): a trait's write only prepares its
//! operation and submits it. The counts kept with the writes, and their
//! checks, are [`counters`]; case materials are files beside the store
//! ([`crate::documents`]); the key layout is [`crate::keys`].

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod counters;
pub(crate) mod outbox;
pub(crate) mod referrals;
pub(crate) mod timers;
