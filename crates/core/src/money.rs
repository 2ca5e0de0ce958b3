//! Amounts of money, held exactly in minor units.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Invalid;
use crate::newtype::validated_string;

validated_string!(
    /// An ISO 4217 currency code: three upper-case letters, e.g. `CNY`, `USD`.
    Currency
);

/// Currencies with no minor unit; all others are taken to have two decimals.
const ZERO_DECIMAL: [&str; 8] = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XOF"];

impl Currency {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let code = value.trim();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Invalid::new(format!(
                "must be an ISO 4217 code of three upper-case letters, got {code:?}"
            )));
        }
        Ok(Self(code.to_owned()))
    }

    pub fn cny() -> Self {
        Self("CNY".to_owned())
    }

    /// Digits after the decimal point.
    pub fn decimals(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.0.as_str()) {
            0
        } else {
            2
        }
    }
}

/// A non-negative amount in a currency, exact to its minor unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Amount {
    /// In minor units (fen for CNY).
    pub minor: u64,
    pub currency: Currency,
}

impl Amount {
    /// Largest amount accepted: 10^15 minor units, far above any real dispute and
    /// far below overflow.
    pub const MAX_MINOR: u64 = 1_000_000_000_000_000;

    /// Parses a decimal such as `12345.67` in `currency`.
    pub fn parse(value: &str, currency: Currency) -> Result<Self, Invalid> {
        let text = value.trim();
        let decimals = currency.decimals();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!fraction.is_empty() && !digits(fraction)) || text.ends_with('.') {
            return Err(Invalid::new(format!(
                "must be a non-negative decimal such as 12345.67, got {text:?}"
            )));
        }
        if fraction.len() as u32 > decimals {
            return Err(Invalid::new(format!(
                "{} allows at most {decimals} decimal places, got {}",
                currency,
                fraction.len()
            )));
        }
        let scale = 10u64.pow(decimals);
        let padded = format!("{fraction:0<width$}", width = decimals as usize);
        let too_large = || Invalid::new(format!("must not exceed {}", Self::MAX_MINOR / scale));
        let whole: u64 = whole.parse().map_err(|_| too_large())?;
        let fraction: u64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| too_large())?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(fraction))
            .filter(|m| *m <= Self::MAX_MINOR)
            .ok_or_else(too_large)?;
        Ok(Self { minor, currency })
    }

    pub fn from_minor(minor: u64, currency: Currency) -> Result<Self, Invalid> {
        if minor > Self::MAX_MINOR {
            return Err(Invalid::new(format!(
                "must not exceed {} minor units",
                Self::MAX_MINOR
            )));
        }
        Ok(Self { minor, currency })
    }
}

impl Amount {
    /// The amount as a decimal with the currency's number of places, e.g.
    /// `12345.60`; the form wire messages carry.
    pub fn decimal(&self) -> String {
        let decimals = self.currency.decimals();
        if decimals == 0 {
            return self.minor.to_string();
        }
        let scale = 10u64.pow(decimals);
        format!(
            "{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = decimals as usize
        )
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_parse_exactly() {
        let a = Amount::parse("12345.6", Currency::cny()).unwrap();
        assert_eq!(a.minor, 1_234_560);
        assert_eq!(a.to_string(), "12345.60 CNY");
        let yen = Amount::parse("500", Currency::parse("JPY").unwrap()).unwrap();
        assert_eq!(yen.to_string(), "500 JPY");
    }

    #[test]
    fn bad_amounts_are_explained() {
        let cny = Currency::cny;
        assert!(
            Amount::parse("-1", cny())
                .unwrap_err()
                .rule
                .contains("non-negative")
        );
        assert!(
            Amount::parse("1.234", cny())
                .unwrap_err()
                .rule
                .contains("2 decimal")
        );
        assert!(Amount::parse("1.", cny()).is_err());
        assert!(Amount::parse("1e5", cny()).is_err());
        assert!(
            Amount::parse("99999999999999999999", cny())
                .unwrap_err()
                .rule
                .contains("exceed")
        );
        assert!(Amount::parse("1.5", Currency::parse("JPY").unwrap()).is_err());
        assert!(
            Currency::parse("usd")
                .unwrap_err()
                .rule
                .contains("upper-case")
        );
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(minor in 0u64..=Amount::MAX_MINOR) {
            let a = Amount::from_minor(minor, Currency::cny()).unwrap();
            let text = a.to_string();
            prop_assert_eq!(text, format!("{} CNY", a.decimal()));
            prop_assert_eq!(Amount::parse(&a.decimal(), Currency::cny()).unwrap(), a);
        }
    }
}
