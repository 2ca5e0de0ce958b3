//! Errors of the calendar crate.

use std::path::PathBuf;

/// Why a notice could not be loaded or a period could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A notice file could not be read.
    #[error("cannot read holiday notice {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A notice file is not valid TOML or does not have the expected keys.
    #[error("holiday notice {origin} is malformed: {message}")]
    Malformed { origin: String, message: String },
    /// A notice parsed but breaks one of the rules a notice must follow.
    #[error("holiday notice {origin}: {field}: {rule}")]
    Invalid {
        origin: String,
        field: String,
        rule: String,
    },
    /// A calendar directory holds no notice at all, which is almost certainly a
    /// wrong path rather than a deliberate choice.
    #[error("no holiday notices (files named YYYY.toml) found in {0}")]
    EmptyDirectory(PathBuf),
    /// A period ran past the last date the calendar can represent.
    #[error("period starting {start} runs past the supported range of dates")]
    OutOfRange { start: jiff::civil::Date },
}
