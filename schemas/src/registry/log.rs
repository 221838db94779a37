//! Where the registry's [`Record`]s are kept. The file backend is an append-only
//! JSON-lines file, written and fsynced before a change is applied or acknowledged,
//! and replayed at start, so a restarted registry serves the same ids.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::RegistryError;
use super::records::Record;

/// A durable log of registry changes. `append` returns only once the records are
/// durable; a failed append leaves the log as it was.
pub trait OperationLog: Send + fmt::Debug {
    fn append(&mut self, records: &[Record]) -> Result<(), RegistryError>;
}

/// No durability: a registry that lives as long as its process (tests, demos).
#[derive(Debug, Default)]
pub struct MemoryLog;

impl OperationLog for MemoryLog {
    fn append(&mut self, _records: &[Record]) -> Result<(), RegistryError> {
        Ok(())
    }
}

/// The JSON-lines file `schemas.log` in a data directory.
#[derive(Debug)]
pub struct FileLog {
    path: PathBuf,
    file: File,
    len: u64,
}

fn store_error(path: &Path, what: &str, e: impl fmt::Display) -> RegistryError {
    RegistryError::Store {
        reason: format!("{what} {}: {e}", path.display()),
    }
}

impl FileLog {
    pub const FILE_NAME: &'static str = "schemas.log";

    /// Opens (creating it if needed) the log in `data_dir` and returns it with the
    /// records to replay. A torn last line — a write cut short by a crash, which was
    /// never acknowledged — is cut off; a bad line before the last is an error.
    pub fn open(data_dir: &Path) -> Result<(Self, Vec<Record>), RegistryError> {
        std::fs::create_dir_all(data_dir).map_err(|e| store_error(data_dir, "cannot create", e))?;
        let path = data_dir.join(Self::FILE_NAME);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| store_error(&path, "cannot open", e))?;
        if created {
            // The new file's directory entry must be durable too.
            File::open(data_dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| store_error(data_dir, "cannot sync", e))?;
        }
        let mut records = Vec::new();
        let mut good_len = 0u64;
        let mut reader = BufReader::new(&mut file);
        let mut line = String::new();
        let mut line_number = 0usize;
        loop {
            line.clear();
            let read = reader
                .read_line(&mut line)
                .map_err(|e| store_error(&path, "cannot read", e))?;
            if read == 0 {
                break;
            }
            line_number += 1;
            if !line.ends_with('\n') {
                tracing::warn!(path = %path.display(), line = line_number, "cutting off a torn last line of the registry log");
                break;
            }
            let record = serde_json::from_str::<Record>(line.trim_end())
                .map_err(|e| store_error(&path, &format!("line {line_number} of"), e))?;
            records.push(record);
            good_len += read as u64;
        }
        drop(reader);
        file.set_len(good_len)
            .map_err(|e| store_error(&path, "cannot truncate", e))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| store_error(&path, "cannot seek", e))?;
        Ok((
            Self {
                path,
                file,
                len: good_len,
            },
            records,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl OperationLog for FileLog {
    fn append(&mut self, records: &[Record]) -> Result<(), RegistryError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::new();
        for record in records {
            serde_json::to_writer(&mut buffer, record)
                .map_err(|e| store_error(&self.path, "cannot encode a record for", e))?;
            buffer.push(b'\n');
        }
        let written = self
            .file
            .write_all(&buffer)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no partial line behind for the next append to follow.
            let _ = self.file.set_len(self.len);
            return Err(store_error(&self.path, "cannot write", e));
        }
        self.len += buffer.len() as u64;
        Ok(())
    }
}
