//! The library's [`Choice`] settings as clap values: names and help come from the library,
//! so `--help`, `batch` requests and saved options use the same words.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use mmbind::Choice;

/// The value parser of a [`Choice`]: `#[arg(value_parser = choice::<T>())]`.
pub fn choice<T: Choice + Send + Sync>() -> ChoiceParser<T> {
    ChoiceParser(PhantomData)
}

#[derive(Clone)]
pub struct ChoiceParser<T>(PhantomData<T>);

impl<T: Choice + Send + Sync> TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        // clap's own parser for the names, for its error message (valid values, "did you mean").
        let names = PossibleValuesParser::new(T::ALL.iter().map(|(_, name, _)| *name));
        let name = names.parse_ref(cmd, arg, value)?;
        Ok(T::named(&name).expect("clap accepted one of the names"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::ALL.iter().map(|(_, name, help)| {
            PossibleValue::new(*name).help(*help)
        })))
    }
}
