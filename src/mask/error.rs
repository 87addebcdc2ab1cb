//! Errors of the mask module: only parsing a mask name can fail; applying a mask cannot.

use super::Mask;

/// A mask name in the config that is not one of SPEC's masks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskParseError {
    #[error("unknown mask {name:?} (known: {})", Mask::NAMES)]
    Unknown { name: String },
    #[error("mask {name:?} needs a whole number from 0 to 65535 in parentheses, e.g. {mask}(3)")]
    BadArgument { name: String, mask: &'static str },
}

impl MaskParseError {
    pub(crate) fn unknown(name: &str) -> Self {
        MaskParseError::Unknown {
            name: name.to_owned(),
        }
    }

    pub(crate) fn bad_argument(name: &str, mask: &'static str) -> Self {
        MaskParseError::BadArgument {
            name: name.to_owned(),
            mask,
        }
    }
}
