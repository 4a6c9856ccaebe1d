//! Declared variables and the typed readers: a [`Var`] says a variable's name, default and
//! help once; [`Vars`] (the environment, or any name-value map) reads it as text, a number, a
//! flag, a size or a duration, falling back to its old name with a warning.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::parse::{parse_duration, parse_flag, parse_size};

/// What a variable is when it is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Default {
    /// It must be set.
    Required,
    /// Unset means "none" (an optional feature stays off).
    Unset,
    /// This value, parsed like a set one.
    Value(&'static str),
    /// Decided by the program (from other settings); the text says how, for `--help`.
    Described(&'static str),
}

/// The name a variable had before Docket's unit convention: its value is a whole number of
/// `unit` (milliseconds or seconds). Still read for one release, with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldName {
    /// The old variable name (`..._MS`, `..._SECS`).
    pub name: &'static str,
    /// What one unit of the old value is.
    pub unit: Duration,
}

impl OldName {
    /// An old name counting milliseconds.
    pub const fn millis(name: &'static str) -> Self {
        Self {
            name,
            unit: Duration::from_millis(1),
        }
    }

    /// An old name counting seconds.
    pub const fn secs(name: &'static str) -> Self {
        Self {
            name,
            unit: Duration::from_secs(1),
        }
    }
}

/// One environment variable a binary reads: declared once, read by [`Vars`], listed by
/// [`crate::help`], checked against the docs by [`crate::check_documented`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    /// The variable's name.
    pub name: &'static str,
    /// What it is when unset.
    pub default: Default,
    /// One line of help.
    pub help: &'static str,
    /// Its previous name, if it was renamed.
    pub old: Option<OldName>,
}

impl Var {
    /// A variable that is unset unless given.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            default: Default::Unset,
            help,
            old: None,
        }
    }

    /// With a default value, parsed like a set one.
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Default::Value(value);
        self
    }

    /// With a default decided by the program, described for `--help`.
    pub const fn described(mut self, how: &'static str) -> Self {
        self.default = Default::Described(how);
        self
    }

    /// Required.
    pub const fn required(mut self) -> Self {
        self.default = Default::Required;
        self
    }

    /// Renamed from `old`, still read for one release.
    pub const fn old(mut self, old: OldName) -> Self {
        self.old = Some(old);
        self
    }
}

/// Where a value was found.
enum Found<'a> {
    Current(&'a str),
    Old(&'a str, OldName),
}

/// The variables a process was given: the environment, or a map in tests. An empty value
/// counts as unset for every reader but [`Vars::text`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    map: BTreeMap<String, String>,
}

impl Vars {
    /// The process environment.
    pub fn from_env() -> Self {
        std::env::vars().collect()
    }

    /// The underlying map.
    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.map
    }

    /// A variable's value exactly as given, by name.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Every variable whose name starts with `prefix`, as (rest of the name, value).
    pub fn prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.map
            .iter()
            .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
    }

    fn find(&self, var: &Var) -> Option<Found<'_>> {
        if let Some(v) = self.raw(var.name).filter(|v| !v.is_empty()) {
            return Some(Found::Current(v));
        }
        let old = var.old?;
        let v = self.raw(old.name).filter(|v| !v.is_empty())?;
        tracing::warn!(
            "{} is deprecated and will be removed in the next release; set {} (a duration like 5s or 250ms) instead",
            old.name,
            var.name
        );
        Some(Found::Old(v, old))
    }

    /// The value as given (even empty), else the declared default value, else empty.
    pub fn text(&self, var: &Var) -> String {
        match (self.raw(var.name), var.default) {
            (Some(v), _) => v.to_owned(),
            (None, Default::Value(d)) => d.to_owned(),
            (None, _) => String::new(),
        }
    }

    /// The value if set and not empty, else the declared default value, else none.
    pub fn optional(&self, var: &Var) -> Option<String> {
        match self.find(var) {
            Some(Found::Current(v) | Found::Old(v, _)) => Some(v.to_owned()),
            None => default_value(var).map(str::to_owned),
        }
    }

    /// The value, which must be set and not empty.
    pub fn required(&self, var: &Var) -> Result<String, ConfigError> {
        self.optional(var)
            .ok_or_else(|| ConfigError::new(var.name, "required"))
    }

    /// The set value parsed by `parse` (none when unset); a failure names the variable.
    pub fn parsed<T>(
        &self,
        var: &Var,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let text = match self.find(var) {
            None => return Ok(None),
            Some(Found::Current(v) | Found::Old(v, _)) => v,
        };
        parse(text)
            .map(Some)
            .map_err(|reason| ConfigError::new(var.name, reason))
    }

    /// The set value, else the declared default value, parsed by `parse`.
    pub fn parsed_or_default<T>(
        &self,
        var: &Var,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        if let Some(v) = self.parsed(var, &parse)? {
            return Ok(v);
        }
        let d = default_value(var).ok_or_else(|| ConfigError::new(var.name, "required"))?;
        parse(d).map_err(|reason| ConfigError::new(var.name, format!("default: {reason}")))
    }

    /// A number (any `FromStr` type: integers, addresses), else the declared default.
    pub fn number<T>(&self, var: &Var) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: StdError + Send + Sync + 'static,
    {
        match self.number_opt(var)? {
            Some(n) => Ok(n),
            None => {
                self.parsed_or_default(var, |v| v.trim().parse().map_err(|e: T::Err| e.to_string()))
            }
        }
    }

    /// A number if set.
    pub fn number_opt<T>(&self, var: &Var) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: StdError + Send + Sync + 'static,
    {
        let Some(Found::Current(text) | Found::Old(text, _)) = self.find(var) else {
            return Ok(None);
        };
        text.trim().parse().map(Some).map_err(|e| {
            ConfigError::with_source(var.name, format!("'{text}' is not a valid value"), e)
        })
    }

    /// A flag (`true`/`false`), else the declared default.
    pub fn flag(&self, var: &Var) -> Result<bool, ConfigError> {
        self.parsed_or_default(var, parse_flag)
    }

    /// A flag if set.
    pub fn flag_opt(&self, var: &Var) -> Result<Option<bool>, ConfigError> {
        self.parsed(var, parse_flag)
    }

    /// A size in bytes (`16MiB`, `512KiB`, `1048576`), else the declared default.
    pub fn size(&self, var: &Var) -> Result<u64, ConfigError> {
        self.parsed_or_default(var, parse_size)
    }

    /// A size if set.
    pub fn size_opt(&self, var: &Var) -> Result<Option<u64>, ConfigError> {
        self.parsed(var, parse_size)
    }

    /// A duration (`5s`, `250ms`), else the declared default. The old name's whole number
    /// of milliseconds or seconds is still read, with a warning.
    pub fn duration(&self, var: &Var) -> Result<Duration, ConfigError> {
        match self.duration_opt(var)? {
            Some(d) => Ok(d),
            None => self.parsed_or_default(var, parse_duration),
        }
    }

    /// A duration if set (under its name or its old name).
    pub fn duration_opt(&self, var: &Var) -> Result<Option<Duration>, ConfigError> {
        match self.find(var) {
            None => Ok(None),
            Some(Found::Current(v)) => parse_duration(v)
                .map(Some)
                .map_err(|reason| ConfigError::new(var.name, reason)),
            Some(Found::Old(v, old)) => old_duration(v, old).map(Some),
        }
    }
}

fn default_value(var: &Var) -> Option<&'static str> {
    match var.default {
        Default::Value(d) => Some(d),
        _ => None,
    }
}

fn old_duration(text: &str, old: OldName) -> Result<Duration, ConfigError> {
    let n: u32 = text.trim().parse().map_err(|e| {
        ConfigError::with_source(old.name, format!("'{text}' is not a whole number"), e)
    })?;
    Ok(old.unit * n)
}

impl FromIterator<(String, String)> for Vars {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self {
            map: iter.into_iter().collect(),
        }
    }
}

impl From<BTreeMap<String, String>> for Vars {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self { map }
    }
}

impl<'a> From<&'a [(&'a str, &'a str)]> for Vars {
    fn from(pairs: &'a [(&'a str, &'a str)]) -> Self {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Var = Var::new("DOCKET_T_WAIT", "a wait")
        .default("5s")
        .old(OldName::millis("DOCKET_T_WAIT_MS"));
    const SIZE: Var = Var::new("DOCKET_T_SIZE", "a size").default("1MiB");
    const NEEDED: Var = Var::new("DOCKET_T_NEEDED", "needed").required();
    const COUNT: Var = Var::new("DOCKET_T_COUNT", "a count").default("3");

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from(pairs)
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let v = vars(&[(SIZE.name, "")]);
        assert_eq!(v.duration(&WAIT), Ok(Duration::from_secs(5)));
        assert_eq!(v.size(&SIZE), Ok(1024 * 1024));
        assert_eq!(v.number::<u32>(&COUNT), Ok(3));
        assert_eq!(v.required(&NEEDED).unwrap_err().field, NEEDED.name);
    }

    #[test]
    fn old_names_are_read_in_their_unit_and_the_new_name_wins() {
        let v = vars(&[("DOCKET_T_WAIT_MS", "300")]);
        assert_eq!(v.duration(&WAIT), Ok(Duration::from_millis(300)));
        let v = vars(&[("DOCKET_T_WAIT_MS", "300"), (WAIT.name, "2s")]);
        assert_eq!(v.duration(&WAIT), Ok(Duration::from_secs(2)));
        let err = vars(&[("DOCKET_T_WAIT_MS", "soon")])
            .duration(&WAIT)
            .unwrap_err();
        assert_eq!(err.field, "DOCKET_T_WAIT_MS");
    }

    #[test]
    fn bad_values_name_the_variable_and_keep_the_cause() {
        let err = vars(&[(COUNT.name, "many")])
            .number::<u32>(&COUNT)
            .unwrap_err();
        assert_eq!(err.field, COUNT.name);
        assert!(StdError::source(&err).is_some());
        let err = vars(&[(WAIT.name, "5")]).duration(&WAIT).unwrap_err();
        assert_eq!(err.field, WAIT.name);
    }

    #[test]
    fn prefixed_variables_come_with_the_rest_of_their_name() {
        let v = vars(&[("P_A_B", "1"), ("Q", "2")]);
        assert_eq!(v.prefixed("P_").collect::<Vec<_>>(), vec![("A_B", "1")]);
    }
}
