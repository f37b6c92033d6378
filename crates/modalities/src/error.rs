use std::path::PathBuf;

/// Why an input could not be used. Every variant names the input, so a batch job can print
/// one line per bad file and carry on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read or decoded (unreadable, truncated, unsupported format...).
    #[error("{}: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    /// The file decoded, but its content cannot be used (wrong channel count, empty, NaN...).
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

impl Error {
    pub fn decode(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Error::Decode {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
    /// Why, without the path.
    pub fn reason(&self) -> &str {
        match self {
            Error::Decode { reason, .. } | Error::Invalid { reason, .. } => reason,
        }
    }
    pub fn invalid(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        Error::Invalid {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
