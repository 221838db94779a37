//! The worker's durable state for the one-machine mode: every connector's
//! configuration and target state (running, paused, stopped) in one JSON file under
//! the state directory, written atomically (a temporary file renamed over the old one),
//! so a restarted worker resumes exactly the connectors that were running.
//! Offsets are not here: they live in Kafka (the connector's offsets topic).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the operator asked a connector to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetState {
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredConnector {
    pub config: BTreeMap<String, String>,
    pub target: TargetState,
}

#[derive(Debug)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The store in `dir`, created if missing.
    pub fn open(dir: &Path) -> std::io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        Ok(Store {
            path: dir.join("connectors.json"),
        })
    }

    pub fn load(&self) -> std::io::Result<BTreeMap<String, StoredConnector>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, connectors: &BTreeMap<String, StoredConnector>) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(connectors).map_err(std::io::Error::other)?;
        let temporary = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_connectors_load_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert!(store.load().expect("empty").is_empty());
        let mut connectors = BTreeMap::new();
        connectors.insert(
            "orders".to_owned(),
            StoredConnector {
                config: [("topic.prefix".to_owned(), "shop".to_owned())].into(),
                target: TargetState::Paused,
            },
        );
        store.save(&connectors).expect("save");
        let reopened = Store::open(dir.path()).expect("reopen");
        assert_eq!(reopened.load().expect("load"), connectors);
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_an_empty_worker() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("connectors.json"), b"{not json").expect("write");
        let error = Store::open(dir.path())
            .expect("open")
            .load()
            .expect_err("corrupt");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    }
}
