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

/// The contracts' file descriptions (court `Document`, CCPIT `CaseFile`,
/// labour `Material`, road-traffic `Evidence`): the same five fields under
/// each platform's name for a file.
pub(crate) trait WireFile {
    fn name(&self) -> &str;
    fn media_type(&self) -> &str;
    fn size_bytes(&self) -> u64;
    fn sha256(&self) -> &str;
    fn url(&self) -> &str;
    fn of(d: &mediation_core::document::Document) -> Self;
}

macro_rules! wire_file {
    ($($file:ty),* $(,)?) => {
        $(impl WireFile for $file {
            fn name(&self) -> &str {
                &self.name
            }
            fn media_type(&self) -> &str {
                &self.media_type
            }
            fn size_bytes(&self) -> u64 {
                self.size_bytes
            }
            fn sha256(&self) -> &str {
                &self.sha256
            }
            fn url(&self) -> &str {
                &self.url
            }
            fn of(d: &mediation_core::document::Document) -> Self {
                Self {
                    name: d.name.to_string(),
                    media_type: d.media_type.to_string(),
                    size_bytes: d.size_bytes,
                    sha256: d.sha256.to_string(),
                    url: write::text(d.location.url()),
                }
            }
        })*
    };
}

wire_file!(
    mediation_proto::court::v1::Document,
    mediation_proto::ccpit::v1::CaseFile,
    mediation_proto::labour::v1::Material,
    mediation_proto::traffic::v1::Evidence,
);
