//! The six modalities and the names they go by everywhere (checkpoints, JSON, the command line).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

// The one list of modalities. A new one is a line here, then its decoder (`mmbind-modalities`),
// its stem and its preset (`mmbind`); every per-modality field, flag and JSON key follows.
define_modalities! {
    Vision => vision,
    Text => text,
    Audio => audio,
    Depth => depth,
    Thermal => thermal,
    Imu => imu,
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a modality name that is not one of the six.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown modality '{0}' (expected one of: {names})", names = Modality::names())]
pub struct UnknownModality(pub String);

impl Modality {
    /// Every modality's name, comma-separated, for messages that list them.
    pub fn names() -> String {
        Modality::ALL.map(Modality::name).join(", ")
    }
}

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
        assert_eq!(
            err.to_string(),
            "unknown modality 'smell' (expected one of: vision, text, audio, depth, thermal, imu)"
        );
        assert_eq!(Modality::COUNT, 6);
        for (i, m) in Modality::ALL.into_iter().enumerate() {
            assert_eq!(m.index(), i);
        }
    }
}
