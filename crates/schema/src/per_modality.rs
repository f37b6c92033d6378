//! What a [`PerModality`] map does beyond what `define_modalities!` generates for it (its
//! fields, `from_fn`, `map`, indexing): iteration, and which values count as absent.

use crate::{Modality, PerModality};

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
    /// Each modality and its value, in [`Modality::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Modality, &T)> {
        Modality::ALL.into_iter().map(move |m| (m, &self[m]))
    }
}

impl<T> PerModality<Option<T>> {
    /// The modalities that have a value, with it.
    pub fn present(&self) -> impl Iterator<Item = (Modality, &T)> {
        self.iter().filter_map(|(m, v)| v.as_ref().map(|v| (m, v)))
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
