//! Writers for the plain values every contract carries, the mirror of
//! [`super::read`]: an absent value is the empty string, as proto3 has it.

use mediation_core::money::Amount;

use mediation_core::document::Document;

use super::{WireFile, WireMoney};

/// The text of an optional value; empty when absent.
pub(crate) fn text(value: Option<&impl ToString>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

/// An amount as the contract's `Money` message.
pub(crate) fn money<M: WireMoney>(a: &Amount) -> M {
    M::of(a.decimal(), a.currency.to_string())
}

/// An amount as a bare decimal; empty when absent.
pub(crate) fn decimal(a: Option<&Amount>) -> String {
    a.map(Amount::decimal).unwrap_or_default()
}

/// Files as the contract's file message.
pub(crate) fn files<F: WireFile>(documents: &[Document]) -> Vec<F> {
    documents.iter().map(F::of).collect()
}
