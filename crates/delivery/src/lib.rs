//! The outbox relay: takes the messages the store holds and delivers them.
//!
//! - **At least once.** A message leaves the outbox only after its destination
//!   acknowledged it; a crash in between means it is sent again, with the same
//!   [`MessageId`](mediation_core::store::MessageId) so the receiver can drop the
//!   duplicate.
//! - **In order per referral.** The store offers only the first message of each
//!   (destination, referral) lane; the next one becomes due when it is delivered.
//! - **Retries that survive restarts.** A failed attempt is recorded with its
//!   attempt count and the time of the next attempt (exponential backoff with
//!   jitter, from `backon`); after a restart the schedule resumes where it was.
//! - **Dead letters.** After too many attempts, too long, or a permanent refusal,
//!   the message is set aside with an operator alert; its lane waits behind it
//!   until an operator replays it.
//! - **Isolation.** Each attempt runs as its own task with a timeout and at most a
//!   few attempts per destination are in flight, so a slow or dead destination
//!   holds up only its own lanes.
//! - **A slot per answer.** An attempt holds its destination's slot only until
//!   the destination answered; recording the outcome (and an offer's receipt)
//!   follows with the slot free, the message still in flight until it is
//!   durable.

mod policy;
mod relay;
mod transport;

pub use policy::RetryPolicy;
pub use relay::{
    DestinationBoard, DestinationHealth, Relay, RelayHandle, RelayOptions, TickReport,
};
pub use transport::{Delivered, DeliveryError, Receipt, Transport};
