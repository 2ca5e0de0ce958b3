//! Case materials: what a document is, and how it is identified by its digest.

use serde::{Deserialize, Serialize};

use crate::error::{Invalid, Violations};
use crate::newtype::{checked_text, validated_string};
use crate::text::Line;

validated_string!(
    /// A SHA-256 digest as 64 hexadecimal digits, stored lower-case. Documents are
    /// stored and fetched by it.
    Sha256Digest
);

impl Sha256Digest {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let hex = value.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Invalid::new(format!(
                "must be a SHA-256 digest of 64 hexadecimal digits, got {} characters",
                hex.chars().count()
            )));
        }
        Ok(Self(hex.to_ascii_lowercase()))
    }

    /// Wraps the raw 32 bytes of a digest.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        use std::fmt::Write;
        let mut hex = String::with_capacity(64);
        for b in bytes {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{b:02x}");
        }
        Self(hex)
    }
}

validated_string!(
    /// A media type such as `application/pdf` or `image/jpeg`.
    MediaType
);

impl MediaType {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let text = value.trim().to_ascii_lowercase();
        let token = |s: &str| {
            !s.is_empty()
                && s.len() <= 127
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        match text.split_once('/') {
            Some((kind, sub)) if token(kind) && token(sub) => Ok(Self(text)),
            _ => Err(Invalid::new(format!(
                "must be a media type such as application/pdf, got {value:?}"
            ))),
        }
    }
}

validated_string!(
    /// An `https` address from which a document can be fetched.
    DocumentUrl
);

impl DocumentUrl {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let text = checked_text(value, 2048, false)?;
        let rest = text
            .strip_prefix("https://")
            .ok_or_else(|| Invalid::new("must be an https:// address"))?;
        if rest.is_empty() || rest.starts_with('/') || text.contains(char::is_whitespace) {
            return Err(Invalid::new(
                "must name a host after https:// and contain no spaces",
            ));
        }
        Ok(Self(text))
    }
}

/// Where a document's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "url")]
pub enum DocumentLocation {
    /// Uploaded to the gateway, which keeps it under its digest.
    Stored,
    /// Held by the sender at this address; fetched and checked against the digest.
    Url(DocumentUrl),
}

impl DocumentLocation {
    /// The address to fetch the document from, unless the gateway keeps it.
    pub fn url(&self) -> Option<&DocumentUrl> {
        match self {
            DocumentLocation::Stored => None,
            DocumentLocation::Url(url) => Some(url),
        }
    }
}

/// Slashes and backslashes, and the characters that look like them, which a
/// file name shown to a person or written to a disk must not contain.
const PATH_SEPARATORS: [char; 8] = [
    '/', '\\', '\u{2215}', '\u{2044}', '\u{FF0F}', '\u{29F8}', '\u{FF3C}', '\u{2216}',
];

/// Whether `name` names a file and not a path: it is not `.` or `..` and
/// holds no separator or look-alike.
pub fn is_file_name(name: &str) -> bool {
    !matches!(name, "." | "..") && !name.contains(PATH_SEPARATORS) && !name.contains('\0')
}

/// One document of a case bundle or an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub name: Line,
    pub media_type: MediaType,
    pub size_bytes: u64,
    pub sha256: Sha256Digest,
    pub location: DocumentLocation,
}

impl Document {
    /// Checks what the types cannot: a document has content.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        if self.size_bytes == 0 {
            v.push("size_bytes", "must be greater than zero");
        }
        if !is_file_name(self.name.as_str()) {
            v.push(
                "name",
                "must be a file name: not '.' or '..', and no slash, backslash or look-alike",
            );
        }
        v
    }
}

/// Why an upload was refused or a file could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the file is larger than the declared {declared} bytes")]
    TooLarge { declared: u64 },
    #[error("the file is {actual} bytes, not the declared {declared}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("the file's SHA-256 is {actual}, not the declared {declared}")]
    DigestMismatch {
        declared: Sha256Digest,
        actual: Sha256Digest,
    },
    #[error("document storage: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_name_is_a_file_name_and_not_a_path() {
        assert!(is_file_name("起诉状.pdf"));
        assert!(is_file_name("a..b.pdf"), "dots inside a name are fine");
        for bad in [
            ".",
            "..",
            "a/b",
            "a\\b",
            "..\u{2215}etc",
            "x\u{FF0F}y",
            "x\u{2044}y",
        ] {
            assert!(!is_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn digests_are_normalised_and_checked() {
        let d = Sha256Digest::parse(&"AB".repeat(32)).unwrap();
        assert_eq!(d.as_str(), "ab".repeat(32));
        assert!(
            Sha256Digest::parse("abc")
                .unwrap_err()
                .rule
                .contains("64 hexadecimal")
        );
        assert!(Sha256Digest::parse(&"g".repeat(64)).is_err());
        assert_eq!(Sha256Digest::from_bytes([0xab; 32]), d);
    }

    #[test]
    fn media_types_and_urls_are_checked() {
        assert_eq!(
            MediaType::parse("Application/PDF").unwrap().as_str(),
            "application/pdf"
        );
        assert!(MediaType::parse("pdf").is_err());
        assert!(DocumentUrl::parse("https://court.example/doc/1").is_ok());
        assert!(
            DocumentUrl::parse("http://court.example/doc/1")
                .unwrap_err()
                .rule
                .contains("https")
        );
        assert!(DocumentUrl::parse("https:///x").is_err());
    }
}
