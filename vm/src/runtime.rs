//! Runtime records: each VM with a control channel writes one file describing itself (pid, address,
//! program, start time, secret token) into a private runtime directory, so that `movahv ps` can
//! list VMs and authenticate to them.
//!
//! The directory is `$MOVA_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/mova`, else `<temp dir>/mova-<uid>`.
//! It is created with mode 0700 and refused if it is not owned by the current user or is open to
//! others; records are created with mode 0600. A VM removes its record when it exits; records of
//! processes that are gone are pruned by whoever lists them.

use nix::sys::signal::kill;
use nix::unistd::{Pid, Uid, getuid};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What a VM records about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The VM's process id.
    pub pid: u32,
    /// The address its control channel listens on.
    pub addr: std::net::SocketAddr,
    /// What it runs (the program's path as given, or `(serve)` for a blank VM).
    pub program: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// The secret a client must present, hex-encoded.
    pub token: String,
}

/// Why the runtime directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// An I/O error on the directory or a record.
    #[error("runtime directory `{}`: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The directory is not private to this user.
    #[error(
        "runtime directory `{}` is not private (owner uid {owner}, mode {mode:o}); it must be owned by uid {uid} with no access for others",
        path.display()
    )]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
        /// The current user.
        uid: u32,
    },
}

/// The runtime directory, created if needed and checked to be private.
pub fn runtime_dir() -> Result<PathBuf, RuntimeError> {
    let path = match std::env::var_os("MOVA_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("mova"),
            None => std::env::temp_dir().join(format!("mova-{}", getuid())),
        },
    };
    let io_error = |source| RuntimeError::Io {
        path: path.clone(),
        source,
    };
    match fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&path)
    {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io_error(error)),
    }
    let meta = fs::symlink_metadata(&path).map_err(io_error)?;
    let uid = getuid();
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_dir() || Uid::from_raw(meta.uid()) != uid || mode & 0o077 != 0 {
        return Err(RuntimeError::NotPrivate {
            path,
            owner: meta.uid(),
            mode,
            uid: uid.as_raw(),
        });
    }
    Ok(path)
}

/// The path of the record of process `pid`.
pub fn record_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.json"))
}

impl Record {
    /// Writes the record (mode 0600), replacing any stale one of the same pid.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, RuntimeError> {
        let path = record_path(dir, self.pid);
        let io_error = |source| RuntimeError::Io {
            path: path.clone(),
            source,
        };
        let temp = dir.join(format!(".{}.json.tmp", self.pid));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io_error)?;
        file.write_all(self.to_json().as_bytes())
            .map_err(io_error)?;
        fs::rename(&temp, &path).map_err(io_error)?;
        Ok(path)
    }

    /// The record as JSON.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "pid": self.pid,
            "addr": self.addr.to_string(),
            "program": self.program,
            "started_ms": self.started_ms,
            "token": self.token,
        })
        .to_string()
    }

    /// Parses a record; `None` if it is not one.
    pub fn from_json(text: &str) -> Option<Record> {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        Some(Record {
            pid: u32::try_from(value.get("pid")?.as_u64()?).ok()?,
            addr: value.get("addr")?.as_str()?.parse().ok()?,
            program: value.get("program")?.as_str()?.to_owned(),
            started_ms: value.get("started_ms")?.as_u64()?,
            token: value.get("token")?.as_str()?.to_owned(),
        })
    }

    /// Reads the record of process `pid`, if there is one.
    pub fn read(dir: &Path, pid: u32) -> Option<Record> {
        let mut text = String::new();
        fs::File::open(record_path(dir, pid))
            .ok()?
            .take(64 * 1024)
            .read_to_string(&mut text)
            .ok()?;
        Record::from_json(&text).filter(|record| record.pid == pid)
    }

    /// The token as bytes.
    pub fn token_bytes(&self) -> Option<Vec<u8>> {
        decode_hex(&self.token)
    }
}

/// Whether process `pid` exists.
pub fn alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence and permission without sending anything; EPERM means it exists
    // but belongs to someone else.
    let exists = match kill(Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    };
    exists && !zombie(pid)
}

/// Whether `pid` has exited and only waits for its parent to reap it (Linux's `/proc`; elsewhere
/// a zombie counts as alive). A zombie VM serves nobody: it is as dead as a reaped one.
fn zombie(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (command) state …`: the command may hold spaces and parentheses, the state follows the
    // last `)`.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// Every record in `dir` of a live process, sorted by pid; records of dead processes and files
/// that are not records are removed.
pub fn list(dir: &Path) -> Vec<Record> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let pid = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".json"))
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        match Record::read(dir, pid) {
            Some(record) if alive(pid) => records.push(record),
            Some(_) | None => {
                let _ = fs::remove_file(&path);
            }
        }
    }
    records.sort_by_key(|record| record.pid);
    records
}

/// A fresh random token, hex-encoded.
pub fn new_token() -> io::Result<String> {
    Ok(encode_hex(
        &random_bytes::<{ crate::protocol::TOKEN_LEN }>()?
    ))
}

/// `N` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Decodes hex (either case); `None` if it is not hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pid: u32) -> Record {
        Record {
            pid,
            addr: "127.0.0.1:4242".parse().unwrap(),
            program: "loop.mvb".into(),
            started_ms: 1,
            token: "00ff".into(),
        }
    }

    #[test]
    fn records_round_trip_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let path = record(me).write(dir.path()).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(Record::read(dir.path(), me), Some(record(me)));
        assert_eq!(record(me).token_bytes(), Some(vec![0, 255]));
    }

    #[test]
    fn listing_prunes_the_dead_and_the_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        record(me).write(dir.path()).unwrap();
        // A pid far above Linux's maximum cannot be alive.
        record(4_000_000_000).write(dir.path()).unwrap();
        fs::write(dir.path().join("77.json"), "not json").unwrap();
        assert_eq!(list(dir.path()), [record(me)]);
        assert!(!record_path(dir.path(), 4_000_000_000).exists());
        assert!(!dir.path().join("77.json").exists());
    }

    #[test]
    fn hex_round_trips_and_refuses_non_hex() {
        assert_eq!(
            decode_hex(&encode_hex(&[0, 1, 254, 255])),
            Some(vec![0, 1, 254, 255])
        );
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn a_process_is_alive_until_it_exits_even_unreaped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(alive(pid) && !zombie(pid));
        child.kill().unwrap();
        // Not reaped yet: a zombie, which counts as gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "{pid} stays alive after SIGKILL"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(!alive(pid));
    }
}
