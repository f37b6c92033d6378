//! Settings with a fixed set of named values, described once for every front end (the
//! command line, a request's JSON, a future server's form) so none of them restates them.

/// A setting whose values each have a name, as typed or written, and a line of help.
pub trait Choice: Copy + PartialEq + Sized + 'static {
    /// Every value with its name and what it does, in the order to list them.
    const ALL: &'static [(Self, &'static str, &'static str)];

    /// This value's name.
    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(v, _, _)| *v == self)
            .map(|(_, name, _)| *name)
            .expect("ALL lists every value")
    }

    /// The value named `name`, if there is one.
    fn named(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(v, _, _)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::Choice;
    use crate::backend::BackendChoice;
    use crate::train::{Augment, Negatives, Sets, Targets};

    /// Each value once, names distinct and as serde writes them (a saved run's options and
    /// the flags use the same words).
    fn check<T: Choice + serde::Serialize + std::fmt::Debug>(variants: usize) {
        assert_eq!(T::ALL.len(), variants);
        for (i, (v, name, help)) in T::ALL.iter().enumerate() {
            assert!(!help.is_empty(), "{v:?} has no help");
            assert_eq!(T::named(name), Some(*v));
            assert_eq!(v.name(), *name);
            assert_eq!(serde_json::to_value(v).unwrap(), *name);
            assert!(T::ALL[..i].iter().all(|(w, n, _)| w != v && n != name));
        }
        assert_eq!(T::named("no such value"), None);
    }

    #[test]
    fn every_choice_names_each_value_once_as_serde_does() {
        check::<BackendChoice>(3);
        check::<Augment>(3);
        check::<Targets>(2);
        check::<Sets>(3);
        check::<Negatives>(2);
    }
}
