//! The six modalities and the names they go by everywhere (checkpoints, JSON, the command line).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The six modalities mmbind binds. Vision is the anchor every other encoder is aligned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Vision,
    Text,
    Audio,
    Depth,
    Thermal,
    Imu,
}

impl Modality {
    /// All modalities in ImageBind's order.
    pub const ALL: [Modality; 6] = [
        Modality::Vision,
        Modality::Text,
        Modality::Audio,
        Modality::Depth,
        Modality::Thermal,
        Modality::Imu,
    ];

    /// The lower-case name used in checkpoints, tensor names, JSON and the command line.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Vision => "vision",
            Modality::Text => "text",
            Modality::Audio => "audio",
            Modality::Depth => "depth",
            Modality::Thermal => "thermal",
            Modality::Imu => "imu",
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a modality name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown modality '{0}' (expected one of: vision, text, audio, depth, thermal, imu)")]
pub struct UnknownModality(pub String);

impl FromStr for Modality {
    type Err = UnknownModality;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Modality::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownModality(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Modality::ALL {
            assert_eq!(m.name().parse::<Modality>().unwrap(), m);
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.name())
            );
        }
        assert_eq!("IMU".parse::<Modality>().unwrap(), Modality::Imu);
        let err = "smell".parse::<Modality>().unwrap_err();
        assert!(err.to_string().contains("smell"));
    }
}
