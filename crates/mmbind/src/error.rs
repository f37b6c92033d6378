use std::path::PathBuf;

/// Everything the mmbind library can fail with. Each variant names what it is about (a file,
/// a weight key, a modality) so the CLI can print one clear line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A checkpoint or weights file that cannot be read: missing, truncated, corrupt, not a
    /// checkpoint at all.
    #[error("cannot read checkpoint {}: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    /// A key the model needs is absent from the weights.
    #[error("missing weight '{key}' (expected shape {expected:?})")]
    MissingWeight { key: String, expected: Vec<usize> },
    /// A key exists with a shape other than the configuration implies.
    #[error(
        "weight '{key}' has shape {found:?}, expected {expected:?} (does the config match the checkpoint?)"
    )]
    ShapeMismatch {
        key: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// The weights hold keys that no part of the model uses.
    #[error("{count} unexpected weight(s) the model does not use: {keys}")]
    UnusedWeights { count: usize, keys: String },
    /// A model directory that cannot be read or written.
    #[error("model directory {}: {reason}", path.display())]
    ModelDir { path: PathBuf, reason: String },
    /// A configuration that does not make sense.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The model has no encoder for the requested modality.
    #[error("this model has no {0} encoder")]
    NoEncoder(mmbind_modalities::Modality),
    /// An input tensor of the wrong shape or type.
    #[error("{name}: {reason}")]
    Input { name: String, reason: String },
    /// The compute backend could not be set up.
    #[error("backend: {0}")]
    Backend(String),
    /// A user file that cannot be decoded or used.
    #[error(transparent)]
    Decode(#[from] mmbind_modalities::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
