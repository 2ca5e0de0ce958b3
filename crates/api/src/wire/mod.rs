//! The kit every adapter translates plain values with: [`read`] for what
//! arrives, [`write`] for what leaves, and [`codes::CodeTable`] for codes, both
//! ways. An adapter keeps only what is its own platform's: its messages and
//! its tables.

pub(crate) mod codes;
pub(crate) mod read;
pub(crate) mod write;

pub(crate) use codes::CodeTable;

/// The contracts' `Money` messages (court and CCPIT each have their own):
/// a decimal string and an ISO 4217 currency.
pub(crate) trait WireMoney {
    fn parts(&self) -> (&str, &str);
    fn of(amount: String, currency: String) -> Self;
}

macro_rules! wire_money {
    ($($money:ty),* $(,)?) => {
        $(impl WireMoney for $money {
            fn parts(&self) -> (&str, &str) {
                (&self.amount, &self.currency)
            }
            fn of(amount: String, currency: String) -> Self {
                Self { amount, currency }
            }
        })*
    };
}

wire_money!(
    mediation_proto::court::v1::Money,
    mediation_proto::ccpit::v1::Money,
);
