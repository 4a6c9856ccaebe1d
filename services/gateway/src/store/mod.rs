//! The gateway's administrative state (policies, models, providers, keys, the policy set
//! revision) and where it persists. One replica alone keeps it in `state.json` in the state
//! directory, replaced atomically on every edit. Replicas share it through the state log
//! ([`log`], `DOCKET_GATEWAY_STATE_TOPIC`): every replica applies the log's records in order,
//! an edit is committed to the log and answered once the local replica applied it, and
//! `state.json` is not written (the compacted log holds one record per resource, so reading
//! it back is as fast a start as a local file, and a local copy could only go stale).
//! Readers on the request path take an immutable snapshot.

mod apply;
mod file;
pub mod log;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use docket_kafka::KafkaSettings;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::policy::{CompiledSet, Policy, PolicyError};
use log::StateLog;
pub use types::{ANY_MODEL, ApiKey, Model, Provider, ProviderKind};

/// Name of the state file inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// Edits tried again after another replica's write fenced them, before answering 503.
const WRITE_ATTEMPTS: usize = 3;

/// Everything the admin API can change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Revision of the policy set: bumped by every policy edit in `state.json`; the offset of
    /// the last policy record in the state log.
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
#[derive(Debug, Error)]
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
    /// The state log failed.
    #[error(transparent)]
    Log(Box<log::LogError>),
}

/// Why an edit was not applied.
#[derive(Debug, Error)]
pub enum EditError {
    /// No such resource.
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already.
    #[error("{0} exists already")]
    Conflict(String),
    /// `If-Match` named another version than the current one.
    #[error("{what} is at version {current}, not {expected}")]
    Stale {
        /// Resource.
        what: String,
        /// Version the caller expected.
        expected: i64,
        /// Version it has.
        current: i64,
    },
    /// The new value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Persisting failed.
    #[error("cannot save state: {0}")]
    Store(#[from] StoreError),
    /// The state log cannot take the edit now.
    #[error("the shared state cannot be changed right now: {0}")]
    Unavailable(#[source] Box<log::LogError>),
}

impl From<log::LogError> for StoreError {
    fn from(e: log::LogError) -> Self {
        StoreError::Log(Box::new(e))
    }
}

impl From<log::LogError> for EditError {
    fn from(e: log::LogError) -> Self {
        EditError::Unavailable(Box::new(e))
    }
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

/// The state, the current snapshot and where edits go.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    backend: Backend,
    /// Held by the edit being saved: edits are saved one at a time, in order, whatever the
    /// backend.
    writing: tokio::sync::Mutex<()>,
}

/// What the log reader and the edit path share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<apply::Applied>,
    snapshot: RwLock<Arc<Snapshot>>,
}

#[derive(Debug)]
enum Backend {
    File(PathBuf),
    Log(Arc<StateLog>),
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
        let shared = Shared {
            state: Mutex::new(apply::Applied::from(state)),
            snapshot: RwLock::new(Arc::new(snapshot)),
        };
        Ok(Self {
            shared: Arc::new(shared),
            backend: Backend::File(path),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    /// Follows the state log `topic`, seeds it with `seed` if no record was ever committed,
    /// and returns once the local view reached the log end. While Kafka cannot be reached
    /// it keeps trying (the gateway is not ready meanwhile).
    pub async fn open_log(
        settings: &KafkaSettings,
        topic: &str,
        seed: State,
    ) -> Result<Self, StoreError> {
        let log = Arc::new(StateLog::open(settings, topic)?);
        let shared = Arc::new(Shared::default());
        let reader = Arc::clone(&shared);
        tokio::spawn(Arc::clone(&log).run(move |entry| reader.apply(entry)));
        let store = Self {
            shared,
            backend: Backend::Log(log),
            writing: tokio::sync::Mutex::new(()),
        };
        while let Err(e) = store.seed(&seed).await {
            tracing::warn!(error = %e, "state log not reachable yet; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        tracing::info!(topic, "state log caught up");
        Ok(store)
    }

    /// Writes `seed` under the writer fence unless some record was committed before, so
    /// replicas starting together seed once.
    async fn seed(&self, seed: &State) -> Result<(), EditError> {
        let mut seed = Some(seed.clone());
        self.edit(&docket_records::event_id(), |s| {
            if s.revision == 0
                && s == &State::default()
                && let Some(seed) = seed.take()
            {
                *s = seed;
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.shared.snapshot.read().expect("snapshot lock"))
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.state.lock().expect("state lock").state)
    }

    /// Applies `f` to a copy of the state; if it succeeds and the result compiles, saves it
    /// (in the state log: commits the changed resources under the writer fence and waits
    /// until this replica applied them) and makes it current. Edits are serialized. Returns
    /// `f`'s result and the policy set revision the edit produced.
    pub async fn edit<R>(
        &self,
        request_id: &str,
        mut f: impl FnMut(&mut State) -> Result<R, EditError>,
    ) -> Result<(R, i64), EditError> {
        let _one = self.writing.lock().await;
        match &self.backend {
            Backend::File(path) => self.edit_file(path, f).await,
            Backend::Log(log) => {
                let mut attempt = 1;
                loop {
                    match self.edit_log(log, request_id, &mut f).await {
                        Err(EditError::Unavailable(e))
                            if attempt < WRITE_ATTEMPTS && e.is_interrupted_write() =>
                        {
                            tracing::info!(error = %e, attempt, "state edit not committed; trying again");
                            attempt += 1;
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    /// Saves the edited state on a blocking thread (a synced write: it must not hold up the
    /// other connections of the serving thread), then makes it current. The caller holds the
    /// store's `writing` lock, so no other edit starts from the state being replaced.
    async fn edit_file<R>(
        &self,
        path: &Path,
        f: impl FnOnce(&mut State) -> Result<R, EditError>,
    ) -> Result<(R, i64), EditError> {
        let mut next = self.read(State::clone);
        let out = f(&mut next)?;
        let snapshot = Snapshot::build(&next).map_err(|e| EditError::Invalid(e.to_string()))?;
        let target = path.to_owned();
        let next = tokio::task::spawn_blocking(move || file::write(&target, &next).map(|()| next))
            .await
            .map_err(|e| StoreError::Io {
                path: path.display().to_string(),
                reason: format!("the save was interrupted: {e}"),
            })??;
        let revision = next.revision;
        self.shared.state.lock().expect("state lock").state = next;
        *self.shared.snapshot.write().expect("snapshot lock") = Arc::new(snapshot);
        Ok((out, revision))
    }

    async fn edit_log<R>(
        &self,
        log: &StateLog,
        request_id: &str,
        f: &mut impl FnMut(&mut State) -> Result<R, EditError>,
    ) -> Result<(R, i64), EditError> {
        let writer = log.fence().await?;
        let (out, changes, revision) = {
            let guard = self.shared.state.lock().expect("state lock");
            let mut next = guard.state.clone();
            let out = f(&mut next)?;
            Snapshot::build(&next).map_err(|e| EditError::Invalid(e.to_string()))?;
            (out, guard.changes(&next, request_id), guard.state.revision)
        };
        if changes.is_empty() {
            return Ok((out, revision));
        }
        let policy_edit = changes.iter().any(|(k, _)| apply::is_policy(k));
        let last = log.write(writer, changes).await?;
        log.applied(last + 1).await?;
        Ok((out, if policy_edit { last } else { revision }))
    }
}

impl Shared {
    /// Applies one record of the state log and rebuilds the snapshot.
    fn apply(&self, entry: log::Entry) {
        let mut guard = self.state.lock().expect("state lock");
        if let Err(e) = guard.apply(&entry) {
            tracing::error!(offset = entry.offset, key = %entry.key, error = %e, "state record skipped");
            return;
        }
        match Snapshot::build(&guard.state) {
            Ok(s) => *self.snapshot.write().expect("snapshot lock") = Arc::new(s),
            Err(e) => {
                tracing::error!(offset = entry.offset, error = %e, "state record does not compile; the previous policies stay in force")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn edits_survive_reopening_and_the_seed_is_used_once() {
        let dir =
            std::env::temp_dir().join(format!("docket-store-{}", uuid::Uuid::now_v7().simple()));
        let store = Store::open(&dir, State::default()).unwrap();
        store
            .edit("r1", |s| {
                s.revision = 5;
                Ok(())
            })
            .await
            .unwrap();
        let other_seed = State {
            revision: 99,
            ..Default::default()
        };
        let again = Store::open(&dir, other_seed).unwrap();
        assert_eq!(again.read(|s| s.revision), 5);
        assert_eq!(again.snapshot().policies.revision, 5);
        let failed: Result<((), i64), _> = again
            .edit("r2", |s| {
                s.revision = 6;
                Err(EditError::Invalid("no".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(again.read(|s| s.revision), 5);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
