//! One value per modality, indexable by [`Modality`]: the one place the six are listed as
//! fields, so code that holds something for each modality need not spell them out again.

use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

use crate::Modality;

/// A `T` for each of the six modalities. Serialised as a map from the modality's name (the
/// same JSON as a struct with the six fields); a modality whose value is [`Absent`] is left
/// out, and one that is missing reads as `T::default()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: Serialize + Absent",
    deserialize = "T: Deserialize<'de> + Default"
))]
pub struct PerModality<T> {
    #[serde(default, skip_serializing_if = "Absent::absent")]
    pub vision: T,
    #[serde(default, skip_serializing_if = "Absent::absent")]
    pub text: T,
    #[serde(default, skip_serializing_if = "Absent::absent")]
    pub audio: T,
    #[serde(default, skip_serializing_if = "Absent::absent")]
    pub depth: T,
    #[serde(default, skip_serializing_if = "Absent::absent")]
    pub thermal: T,
    #[serde(default, skip_serializing_if = "Absent::absent")]
    pub imu: T,
}

/// Whether a per-modality value is "nothing", which the serialised map leaves out.
pub trait Absent {
    fn absent(&self) -> bool;
}

impl<T> Absent for Option<T> {
    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl<T> PerModality<T> {
    /// The map whose value for `m` is `f(m)`.
    pub fn from_fn(mut f: impl FnMut(Modality) -> T) -> Self {
        PerModality {
            vision: f(Modality::Vision),
            text: f(Modality::Text),
            audio: f(Modality::Audio),
            depth: f(Modality::Depth),
            thermal: f(Modality::Thermal),
            imu: f(Modality::Imu),
        }
    }

    /// Each modality and its value, in [`Modality::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Modality, &T)> {
        Modality::ALL.into_iter().map(move |m| (m, &self[m]))
    }

    /// The map of `f` applied to every value.
    pub fn map<U>(self, mut f: impl FnMut(Modality, T) -> U) -> PerModality<U> {
        PerModality {
            vision: f(Modality::Vision, self.vision),
            text: f(Modality::Text, self.text),
            audio: f(Modality::Audio, self.audio),
            depth: f(Modality::Depth, self.depth),
            thermal: f(Modality::Thermal, self.thermal),
            imu: f(Modality::Imu, self.imu),
        }
    }
}

impl<T> PerModality<Option<T>> {
    /// The modalities that have a value, with it.
    pub fn present(&self) -> impl Iterator<Item = (Modality, &T)> {
        self.iter().filter_map(|(m, v)| v.as_ref().map(|v| (m, v)))
    }
}

impl<T> Index<Modality> for PerModality<T> {
    type Output = T;

    fn index(&self, m: Modality) -> &T {
        match m {
            Modality::Vision => &self.vision,
            Modality::Text => &self.text,
            Modality::Audio => &self.audio,
            Modality::Depth => &self.depth,
            Modality::Thermal => &self.thermal,
            Modality::Imu => &self.imu,
        }
    }
}

impl<T> IndexMut<Modality> for PerModality<T> {
    fn index_mut(&mut self, m: Modality) -> &mut T {
        match m {
            Modality::Vision => &mut self.vision,
            Modality::Text => &mut self.text,
            Modality::Audio => &mut self.audio,
            Modality::Depth => &mut self.depth,
            Modality::Thermal => &mut self.thermal,
            Modality::Imu => &mut self.imu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_modality_indexes_its_own_field_and_serialises_under_its_name() {
        let mut map = PerModality::from_fn(|m| Some(m.name().len()));
        for m in Modality::ALL {
            assert_eq!(map[m], Some(m.name().len()));
            map[m] = map[m].map(|n| n + 100);
        }
        let order: Vec<Modality> = map.iter().map(|(m, _)| m).collect();
        assert_eq!(order, Modality::ALL);
        let json = serde_json::to_value(map).unwrap();
        for m in Modality::ALL {
            assert_eq!(json[m.name()], m.name().len() + 100);
        }
        let back: PerModality<Option<usize>> = serde_json::from_value(json).unwrap();
        assert_eq!(back, map);
        let some = PerModality::from_fn(|m| (m == Modality::Depth).then_some(1));
        assert_eq!(some.present().collect::<Vec<_>>(), [(Modality::Depth, &1)]);
        assert!(some.map(|_, v| v.is_some()).depth);
        // Only what is there is written; what is missing reads back as nothing.
        assert_eq!(serde_json::to_string(&some).unwrap(), r#"{"depth":1}"#);
        let back: PerModality<Option<i32>> = serde_json::from_str(r#"{"depth":1}"#).unwrap();
        assert_eq!(back, some);
    }
}
