//! The macro that turns the one list of modalities (in `modality.rs`) into everything that
//! must name each of them: the [`Modality`](crate::Modality) enum, its names, and the fields
//! of [`PerModality`](crate::PerModality). A seventh modality is one more line in that list.

/// `define_modalities! { $(#[doc] Variant => field,)+ }`: the field name is the modality's
/// name everywhere (checkpoints, JSON keys, command-line flags).
macro_rules! define_modalities {
    ($( $(#[$doc:meta])* $variant:ident => $field:ident ),+ $(,)?) => {
        /// The modalities mmbind binds. Vision is the anchor every other encoder is aligned to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum Modality {
            $( $(#[$doc])* $variant ),+
        }

        impl Modality {
            /// How many modalities there are.
            pub const COUNT: usize = [$(stringify!($variant)),+].len();

            /// All modalities in ImageBind's order.
            pub const ALL: [Modality; Modality::COUNT] = [$(Modality::$variant),+];

            /// The lower-case name used in checkpoints, tensor names, JSON and the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $( Modality::$variant => stringify!($field) ),+
                }
            }

            /// The modality's position in [`Modality::ALL`] (for per-modality arrays).
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        /// A `T` for each modality. Serialised as a map from the modality's name (the same
        /// JSON as a struct with one field per modality); a modality whose value is
        /// [`Absent`](crate::Absent) is left out, and one that is missing reads as
        /// `T::default()`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(bound(
            serialize = "T: Serialize + crate::Absent",
            deserialize = "T: Deserialize<'de> + Default"
        ))]
        pub struct PerModality<T> {
            $(
                #[serde(default, skip_serializing_if = "crate::Absent::absent")]
                pub $field: T,
            )+
        }

        impl<T> PerModality<T> {
            /// The map whose value for `m` is `f(m)`.
            pub fn from_fn(mut f: impl FnMut(Modality) -> T) -> Self {
                PerModality { $( $field: f(Modality::$variant) ),+ }
            }

            /// The map of `f` applied to every value.
            pub fn map<U>(self, mut f: impl FnMut(Modality, T) -> U) -> PerModality<U> {
                PerModality { $( $field: f(Modality::$variant, self.$field) ),+ }
            }
        }

        impl<T> std::ops::Index<Modality> for PerModality<T> {
            type Output = T;

            fn index(&self, m: Modality) -> &T {
                match m {
                    $( Modality::$variant => &self.$field ),+
                }
            }
        }

        impl<T> std::ops::IndexMut<Modality> for PerModality<T> {
            fn index_mut(&mut self, m: Modality) -> &mut T {
                match m {
                    $( Modality::$variant => &mut self.$field ),+
                }
            }
        }
    };
}
