//! A credential (token, API key) that never appears in logs: `Debug` and `Display` print
//! `[redacted]`; only [`Secret::expose`] gives the value, at the one place it goes on the wire.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// What every formatting of a [`Secret`] prints.
const REDACTED: &str = "[redacted]";

/// A credential value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why no credential could be read.
#[derive(Debug, Error)]
pub enum SecretError {
    /// Neither variable is set.
    #[error("{var} or {file_var}: one of them is required")]
    Missing {
        /// The variable holding the value.
        var: String,
        /// The variable naming a file that holds it.
        file_var: String,
    },
    /// Both variables are set.
    #[error("{var} and {file_var}: set only one of them")]
    Both {
        /// The variable holding the value.
        var: String,
        /// The variable naming a file that holds it.
        file_var: String,
    },
    /// The file cannot be read.
    #[error("{file_var}: cannot read {path}")]
    File {
        /// The variable naming the file.
        file_var: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The value is empty (after trimming a file's surrounding whitespace).
    #[error("{var}: the credential is empty")]
    Empty {
        /// The variable at fault.
        var: String,
    },
}

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the request header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the credential from `var` (the value) or `file_var` (a file holding it, such as a
    /// mounted Kubernetes secret; surrounding whitespace is trimmed); exactly one must be set.
    pub fn from_vars(
        vars: &BTreeMap<String, String>,
        var: &str,
        file_var: &str,
    ) -> Result<Self, SecretError> {
        let set = |k: &str| vars.get(k).filter(|v| !v.is_empty());
        let (value, from) = match (set(var), set(file_var)) {
            (Some(_), Some(_)) => return Err(both(var, file_var)),
            (None, None) => return Err(missing(var, file_var)),
            (Some(v), None) => (v.clone(), var),
            (None, Some(path)) => (read(file_var, path)?, file_var),
        };
        if value.trim().is_empty() {
            return Err(SecretError::Empty {
                var: from.to_owned(),
            });
        }
        Ok(Self(value))
    }
}

fn read(file_var: &str, path: &str) -> Result<String, SecretError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| SecretError::File {
            file_var: file_var.to_owned(),
            path: PathBuf::from(path),
            source,
        })
}

fn both(var: &str, file_var: &str) -> SecretError {
    SecretError::Both {
        var: var.to_owned(),
        file_var: file_var.to_owned(),
    }
}

fn missing(var: &str, file_var: &str) -> SecretError {
    SecretError::Missing {
        var: var.to_owned(),
        file_var: file_var.to_owned(),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn never_formats_the_value() {
        let s = Secret::new("hunter2-token");
        assert_eq!(
            format!("{s} {s:?} {s:#?}"),
            "[redacted] [redacted] [redacted]"
        );
        assert_eq!(s.expose(), "hunter2-token");
    }

    #[test]
    fn reads_one_of_the_value_or_a_file() {
        let file = std::env::temp_dir().join(format!("docket-secret-{}", std::process::id()));
        std::fs::write(&file, "  from-file\n").unwrap();
        let path = file.to_str().unwrap();
        let s = Secret::from_vars(&vars(&[("F", path)]), "V", "F").unwrap();
        assert_eq!(s.expose(), "from-file");
        let s = Secret::from_vars(&vars(&[("V", "v")]), "V", "F").unwrap();
        assert_eq!(s.expose(), "v");
        assert!(matches!(
            Secret::from_vars(&vars(&[("V", "v"), ("F", path)]), "V", "F"),
            Err(SecretError::Both { .. })
        ));
        assert!(matches!(
            Secret::from_vars(&vars(&[]), "V", "F"),
            Err(SecretError::Missing { .. })
        ));
        assert!(matches!(
            Secret::from_vars(&vars(&[("V", "  ")]), "V", "F"),
            Err(SecretError::Empty { .. })
        ));
        std::fs::remove_file(file).unwrap();
    }
}
