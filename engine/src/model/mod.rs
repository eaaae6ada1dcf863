//! The admin configuration model: the agent profile, teams, queues and their routing settings,
//! queue membership, campaigns, skills, pause reasons, numbers (DIDs) and organisation settings,
//! with the input types for create and PATCH and the validation rules for every field.
//!
//! Pure data and pure functions: no I/O, no clock, no locks. Storing, indexing, searching and
//! password hashing belong to [`crate::admin`]; bytes on disk belong to [`crate::store`].
//!
//! Every editable record is split in two: an immutable identity (an id, or the username) and a
//! `*Settings` struct of editable fields. The `settings!` macro generates, for each settings
//! struct, its defaults and a matching `*Patch` struct whose fields are all optional, so PATCH
//! semantics ("only given fields change") are the same everywhere and cannot drift from the
//! full type.

mod agent;
mod config;
pub mod validate;

pub use agent::*;
pub use config::*;
pub use validate::{rules, FieldError, Rule};

use serde::{Deserialize, Deserializer};

/// Deserializes a present field as `Some(value)`, so that in a patch `null` on an
/// `Option<Option<T>>` field means "clear" (`Some(None)`) and an absent field means "unchanged".
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Declares a settings struct (all fields defaulted) and its patch struct (all fields optional,
/// only given ones are applied). A field written `name: Type [TypePatch] = default` is itself a
/// settings struct and is patched field by field rather than replaced.
macro_rules! settings {
    (
        $(#[$meta:meta])*
        pub struct $name:ident / $patch:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty $([$pty:ty])? = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        #[doc = concat!("A partial update of [`", stringify!($name), "`]: absent fields stay as they are.")]
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct $patch {
            $(
                $(#[$fmeta])*
                #[serde(
                    deserialize_with = "crate::model::present",
                    skip_serializing_if = "Option::is_none"
                )]
                pub $field: Option<$crate::model::settings!(@patch_ty $ty $(, $pty)?)>,
            )*
        }

        impl $patch {
            /// Applies the given fields to `target`.
            pub fn apply_to(self, target: &mut $name) {
                $(
                    if let Some(v) = self.$field {
                        $crate::model::settings!(@apply target.$field, v $(, $pty)?);
                    }
                )*
            }

            /// True if no field is given.
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )*
            }
        }
    };
    (@patch_ty $ty:ty) => { $ty };
    (@patch_ty $ty:ty, $pty:ty) => { $pty };
    (@apply $target:expr, $v:ident) => { $target = $v };
    (@apply $target:expr, $v:ident, $pty:ty) => { $v.apply_to(&mut $target) };
}
pub(crate) use settings;

#[cfg(test)]
mod tests;
