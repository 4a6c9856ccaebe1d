//! Persistent gateway state (policies, models, providers, keys, the policy set revision)
//! in one JSON file, `state.json` in the state directory, replaced atomically on every edit.
//! A file was chosen over an embedded database: the state is small, edits are rare, a
//! whole-file atomic rename gives all-or-nothing edits without another dependency, and an
//! operator can read it. Readers on the request path take an immutable snapshot.

mod file;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::policy::{CompiledSet, Policy, PolicyError};
pub use types::{ANY_MODEL, ApiKey, Model, Provider, ProviderKind};

/// Name of the state file inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// Everything the admin API can change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Revision of the policy set, bumped by every policy edit.
    pub revision: i64,
    /// Policies by id.
    pub policies: BTreeMap<String, Policy>,
    /// Models by name.
    pub models: BTreeMap<String, Model>,
    /// Providers by name.
    pub providers: BTreeMap<String, Provider>,
    /// API keys by id.
    pub keys: BTreeMap<String, ApiKey>,
}

/// State that cannot be read or written.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The file system failed.
    #[error("{path}: {reason}")]
    Io {
        /// File.
        path: String,
        /// Error.
        reason: String,
    },
    /// The file is not valid state.
    #[error("{path} is not valid gateway state: {reason}")]
    Corrupt {
        /// File.
        path: String,
        /// Error.
        reason: String,
    },
    /// A stored policy does not compile.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Why an edit was not applied.
#[derive(Debug, Clone, Error)]
pub enum EditError {
    /// No such resource.
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already.
    #[error("{0} exists already")]
    Conflict(String),
    /// The new value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Persisting failed.
    #[error("cannot save state: {0}")]
    Store(#[from] StoreError),
}

/// What the request path reads: compiled policies and the tables, as of one revision.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Enabled policies in evaluation order.
    pub policies: CompiledSet,
    /// Models by name.
    pub models: BTreeMap<String, Model>,
    /// Providers by name.
    pub providers: BTreeMap<String, Provider>,
    /// API keys.
    pub keys: Vec<ApiKey>,
}

impl Snapshot {
    fn build(state: &State) -> Result<Self, PolicyError> {
        Ok(Self {
            policies: CompiledSet::compile(state.revision, state.policies.values())?,
            models: state.models.clone(),
            providers: state.providers.clone(),
            keys: state.keys.values().cloned().collect(),
        })
    }
}

/// The state, its file and the current snapshot.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    state: Mutex<State>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Store {
    /// Loads `dir/state.json`, or starts from `seed` (and writes it) when there is none.
    pub fn open(dir: &Path, seed: State) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let path = dir.join(STATE_FILE);
        let state = match file::read::<State>(&path)? {
            Some(s) => s,
            None => {
                file::write(&path, &seed)?;
                seed
            }
        };
        let snapshot = Snapshot::build(&state)?;
        Ok(Self {
            path,
            state: Mutex::new(state),
            snapshot: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().expect("snapshot lock"))
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock().expect("state lock"))
    }

    /// Applies `f` to a copy of the state; if it succeeds and the result compiles, saves it
    /// and makes it current. Edits are serialized.
    pub fn edit<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, EditError>,
    ) -> Result<R, EditError> {
        let mut guard = self.state.lock().expect("state lock");
        let mut next = guard.clone();
        let out = f(&mut next)?;
        let snapshot = Snapshot::build(&next).map_err(|e| EditError::Invalid(e.to_string()))?;
        file::write(&self.path, &next)?;
        *guard = next;
        *self.snapshot.write().expect("snapshot lock") = Arc::new(snapshot);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_survive_reopening_and_the_seed_is_used_once() {
        let dir =
            std::env::temp_dir().join(format!("docket-store-{}", uuid::Uuid::now_v7().simple()));
        let store = Store::open(&dir, State::default()).unwrap();
        store
            .edit(|s| {
                s.revision = 5;
                Ok(())
            })
            .unwrap();
        let other_seed = State {
            revision: 99,
            ..Default::default()
        };
        let again = Store::open(&dir, other_seed).unwrap();
        assert_eq!(again.read(|s| s.revision), 5);
        assert_eq!(again.snapshot().policies.revision, 5);
        let failed: Result<(), _> = again.edit(|s| {
            s.revision = 6;
            Err(EditError::Invalid("no".into()))
        });
        assert!(failed.is_err());
        assert_eq!(again.read(|s| s.revision), 5);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
