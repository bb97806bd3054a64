//! Runtime records: each VM with a control channel writes one file describing itself (pid, address,
//! program, start time, secret token) into a private runtime directory, so that `movahv ps` can
//! list VMs and authenticate to them.
//!
//! The directory is `$MOVA_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/mova`, else `/dev/shm/mova-<uid>`
//! (when `/dev/shm` is a directory others cannot clear, see [`shared_base`]), else
//! `<temp dir>/mova-<uid>`.
//! It is created with mode 0700 and refused if it is not owned by the current user or is open to
//! others; records are created with mode 0600. A VM removes its record when it exits; records of
//! processes that are gone are pruned by whoever lists them.
//!
//! A record is opened without blocking and without following a symbolic link, and read only if
//! the opened file is a regular file: a FIFO named like a record would otherwise make every
//! reader wait for a writer forever. Anything else is skipped, reported, and left where it is.

use nix::sys::signal::kill;
use nix::unistd::{Pid, Uid, getuid};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
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
    /// The secret a client must prove it holds, hex-encoded.
    pub token: String,
    /// The SHA-256 fingerprint of the VM's TLS certificate (`sha256:` and hex), when its
    /// channel speaks TLS (it listens off the loopback).
    pub fingerprint: Option<String>,
}

/// Why the runtime directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// An I/O error on the directory or a record.
    #[error("runtime directory `{}`: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The directory is not private to this user.
    #[error(
        "runtime directory `{}` is not private (owner uid {owner}, mode {mode:o}); it must be owned by uid {uid} with no access for others",
        path.display()
    )]
    NotPrivate {
        path: PathBuf,
        owner: u32,
        /// Its permission bits.
        mode: u32,
        uid: u32,
    },
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// There is no such file.
    #[error("there is no such file")]
    Missing,
    /// The file is something other than a regular file: it is left alone.
    #[error("not a regular file ({0}), left alone")]
    NotRegular(&'static str),
    /// The file could not be opened or read.
    #[error("cannot read it: {0}")]
    Unreadable(io::Error),
    /// The file is not a record (or the record of another pid).
    #[error("not a runtime record")]
    Malformed,
}

/// A file in the runtime directory that [`list`] skipped without removing it.
#[derive(Debug)]
pub struct Skipped {
    pub path: PathBuf,
    /// Why it was skipped: [`RecordError::NotRegular`] or [`RecordError::Unreadable`].
    pub reason: RecordError,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "skipped `{}` in the runtime directory: {}",
            self.path.display(),
            self.reason
        )
    }
}

/// What [`list`] found.
#[derive(Debug, Default)]
pub struct Listing {
    /// The records of live processes, sorted by pid.
    pub records: Vec<Record>,
    /// Files named like records that could not be read, left in place; a caller that talks to
    /// people warns about them.
    pub skipped: Vec<Skipped>,
}

/// The runtime directory, created if needed and checked to be private.
pub fn runtime_dir() -> Result<PathBuf, RuntimeError> {
    let path = match std::env::var_os("MOVA_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_RUNTIME_DIR").filter(|dir| !dir.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("mova"),
            None => shared_base(Path::new(SHM_DIR))
                .unwrap_or_else(std::env::temp_dir)
                .join(format!("mova-{}", getuid())),
        },
    };
    private_dir(path)
}

/// Linux's memory-backed directory for everyone (a tmpfs), where runtime records go when there is
/// no `$XDG_RUNTIME_DIR`: like that directory, and unlike a temporary directory on a disk, it
/// keeps the records in memory, so creating, renaming and removing one at every VM's start and
/// exit costs no journal writes (about 0.08 ms of a VM's start-up on an ext4 `/tmp`).
pub const SHM_DIR: &str = "/dev/shm";

/// `dir` if it can hold the per-user directory as safely as the temporary directory does, and this
/// user can make it there: a real directory (not a symbolic link) that is writable by everyone
/// and sticky (so others cannot rename or remove what this user makes there), as `/tmp` is, or
/// one this user owns that others cannot write. `None` otherwise — missing, open to others'
/// renames, or someone else's that this user could not create the directory in — and the
/// temporary directory is used.
pub fn shared_base(dir: &Path) -> Option<PathBuf> {
    let meta = fs::symlink_metadata(dir).ok()?;
    let mode = meta.permissions().mode();
    let sticky = mode & 0o1000 != 0;
    let others_write = mode & 0o002 != 0;
    let mine = meta.uid() == getuid().as_raw();
    let usable = (sticky && others_write) || (mine && !others_write);
    (meta.is_dir() && usable).then(|| dir.to_owned())
}

/// The directory of the user's lasting Mova files (the VM's TLS key and certificate, the known
/// hosts): `$MOVA_CONFIG_DIR`, else `$XDG_CONFIG_HOME/mova`, else `~/.config/mova`. It is
/// created with mode 0700 and, as the runtime directory, refused unless private to the user.
pub fn config_dir() -> Result<PathBuf, RuntimeError> {
    let non_empty =
        |name| std::env::var_os(name).filter(|dir: &std::ffi::OsString| !dir.is_empty());
    let path = match non_empty("MOVA_CONFIG_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => match (non_empty("XDG_CONFIG_HOME"), non_empty("HOME")) {
            (Some(dir), _) => PathBuf::from(dir).join("mova"),
            (None, Some(home)) => PathBuf::from(home).join(".config").join("mova"),
            (None, None) => {
                return Err(RuntimeError::Io {
                    path: PathBuf::from("~/.config/mova"),
                    source: io::Error::new(
                        io::ErrorKind::NotFound,
                        "neither MOVA_CONFIG_DIR, XDG_CONFIG_HOME nor HOME is set",
                    ),
                });
            }
        },
    };
    private_dir(path)
}

/// Creates `path` (mode 0700) if it is missing, and refuses it unless it is a real directory
/// owned by this user with no access for others.
pub fn private_dir(path: PathBuf) -> Result<PathBuf, RuntimeError> {
    let io_error = |source| RuntimeError::Io {
        path: path.clone(),
        source,
    };
    // Looked at first: a directory that is already there (every start but the first) costs one
    // system call, not a `mkdir` that fails and a `stat` besides. Whatever is found or made is
    // checked below, without following a symbolic link.
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            match fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(&path)
            {
                Ok(()) => {}
                // Made by another process meanwhile: checked as any other.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(io_error(error)),
            }
            fs::symlink_metadata(&path).map_err(io_error)?
        }
        Err(error) => return Err(io_error(error)),
    };
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
        // The temporary file is created afresh (`O_EXCL`), so whatever lies at its name (a FIFO,
        // a symbolic link) is neither opened nor followed. A stale one of this pid (a VM killed
        // while writing) is removed, and the file created again.
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)
        };
        let mut file = match create() {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&temp).map_err(io_error)?;
                create()
            }
            created => created,
        }
        .map_err(io_error)?;
        file.write_all(self.to_json().as_bytes())
            .map_err(io_error)?;
        fs::rename(&temp, &path).map_err(io_error)?;
        Ok(path)
    }

    /// The record as JSON.
    pub fn to_json(&self) -> String {
        let mut record = serde_json::json!({
            "pid": self.pid,
            "addr": self.addr.to_string(),
            "program": self.program,
            "started_ms": self.started_ms,
            "token": self.token,
        });
        if let (Some(fingerprint), Some(fields)) = (&self.fingerprint, record.as_object_mut()) {
            fields.insert("fingerprint".into(), fingerprint.clone().into());
        }
        record.to_string()
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
            fingerprint: match value.get("fingerprint") {
                None => None,
                Some(fingerprint) => Some(fingerprint.as_str()?.to_owned()),
            },
        })
    }

    /// Reads the record of process `pid`, if there is one.
    pub fn read(dir: &Path, pid: u32) -> Option<Record> {
        Record::load(dir, pid).ok()
    }

    /// Reads the record of process `pid`, saying why it cannot be read. Never blocks: see the
    /// module's documentation.
    pub fn load(dir: &Path, pid: u32) -> Result<Record, RecordError> {
        let path = record_path(dir, pid);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
            .open(&path);
        let file = match file {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(RecordError::Missing);
            }
            // Opening failed (a symbolic link refused, a socket that cannot be opened): say what
            // lies there if it is not a regular file.
            Err(error) => {
                return Err(match fs::symlink_metadata(&path) {
                    Ok(meta) if !meta.is_file() => RecordError::NotRegular(kind(meta.file_type())),
                    Ok(_) | Err(_) => RecordError::Unreadable(error),
                });
            }
        };
        // The type of the file opened, not of whatever the name points to a moment later.
        let meta = file.metadata().map_err(RecordError::Unreadable)?;
        if !meta.is_file() {
            return Err(RecordError::NotRegular(kind(meta.file_type())));
        }
        let mut text = String::new();
        file.take(MAX_RECORD_LEN)
            .read_to_string(&mut text)
            .map_err(|error| {
                // Not UTF-8: not a record.
                if error.kind() == io::ErrorKind::InvalidData {
                    RecordError::Malformed
                } else {
                    RecordError::Unreadable(error)
                }
            })?;
        Record::from_json(&text)
            .filter(|record| record.pid == pid)
            .ok_or(RecordError::Malformed)
    }

    /// The token as bytes.
    pub fn token_bytes(&self) -> Option<Vec<u8>> {
        decode_hex(&self.token)
    }
}

/// The most of a record that is read; a real one is about 200 bytes.
const MAX_RECORD_LEN: u64 = 64 * 1024;

/// What a file that is not a regular file is, for messages.
fn kind(file_type: fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "not a regular file"
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

/// Every record in `dir` of a live process, sorted by pid. Records of dead processes and regular
/// files that are not records are removed; files named like records that are not regular files
/// or cannot be read are skipped and left in place.
pub fn list(dir: &Path) -> Listing {
    let mut listing = Listing::default();
    let Ok(entries) = fs::read_dir(dir) else {
        return listing;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let pid = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".json"))
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        match Record::load(dir, pid) {
            Ok(record) if alive(pid) => listing.records.push(record),
            Ok(_) | Err(RecordError::Malformed) => {
                let _ = fs::remove_file(&path);
            }
            Err(RecordError::Missing) => {}
            Err(reason @ (RecordError::NotRegular(_) | RecordError::Unreadable(_))) => {
                listing.skipped.push(Skipped { path, reason });
            }
        }
    }
    listing.records.sort_by_key(|record| record.pid);
    listing.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    listing
}

/// A fresh random token, hex-encoded.
pub fn new_token() -> io::Result<String> {
    Ok(encode_hex(
        &random_bytes::<{ crate::protocol::TOKEN_LEN }>()?
    ))
}

/// `N` bytes from the system's random source: the kernel's `getrandom(2)` on Linux, one system
/// call with no file to open (`/dev/urandom` where the call is missing), waiting only while the
/// kernel's pool is not yet seeded at boot.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|error| match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::other(error.to_string()),
    })?;
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

/// The seal key a command uses: the file `path` names (`--seal-key FILE`), else the one
/// `$MOVA_SEAL_KEY` names, else none. Like an ssh private key, the file must be private to the
/// user (no access for group or others), and it holds at least 32 bytes.
pub fn seal_key(path: Option<&Path>) -> Result<Option<mova_lang::seal::SealKey>, String> {
    let from_env = std::env::var_os("MOVA_SEAL_KEY")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    let Some(path) = path.map(Path::to_owned).or(from_env) else {
        return Ok(None);
    };
    let what = |reason: String| format!("seal key `{}`: {reason}", path.display());
    let meta = fs::metadata(&path).map_err(|error| what(error.to_string()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(what(format!(
            "others may read it (mode {:o}): make it private, `chmod 600 {}`",
            meta.permissions().mode() & 0o777,
            path.display()
        )));
    }
    let bytes = mova_compiler::io::read_limited(&path, 64 * 1024)
        .map_err(|error| what(error.to_string()))?;
    mova_lang::seal::SealKey::new(&bytes)
        .map(Some)
        .map_err(|error| what(error.to_string()))
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
            fingerprint: None,
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
        let listing = list(dir.path());
        assert_eq!(listing.records, [record(me)]);
        assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
        assert!(!record_path(dir.path(), 4_000_000_000).exists());
        assert!(!dir.path().join("77.json").exists());
    }

    /// Runs `work` on a thread and fails if it takes longer than a few seconds: what these tests
    /// guard against is blocking forever.
    fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || sender.send(work()));
        receiver
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("blocked for 5 s")
    }

    #[test]
    fn what_is_not_a_regular_file_is_skipped_without_blocking_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        // A FIFO named like this process's record: opening it the usual way waits forever.
        let fifo = record_path(dir.path(), me);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let directory = record_path(dir.path(), 1);
        fs::create_dir(&directory).unwrap();
        // A symbolic link to a real record is not followed either.
        // (A pid far above Linux's maximum cannot be alive.)
        record(4_000_000_000).write(dir.path()).unwrap();
        let link = record_path(dir.path(), 4_000_000_001);
        std::os::unix::fs::symlink(record_path(dir.path(), 4_000_000_000), &link).unwrap();

        let path = dir.path().to_owned();
        let loaded = bounded(move || Record::load(&path, me));
        assert!(
            matches!(loaded, Err(RecordError::NotRegular("a FIFO"))),
            "{loaded:?}"
        );
        assert!(matches!(
            Record::load(dir.path(), 4_000_000_001),
            Err(RecordError::NotRegular("a symbolic link"))
        ));
        assert!(matches!(
            Record::load(dir.path(), 2),
            Err(RecordError::Missing)
        ));

        let path = dir.path().to_owned();
        let listing = bounded(move || list(&path));
        assert!(listing.records.is_empty(), "{:?}", listing.records);
        let skipped: Vec<String> = listing.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(
            skipped.len(),
            3,
            "the FIFO, the directory and the link: {skipped:?}"
        );
        for (path, kind) in [
            (&fifo, "a FIFO"),
            (&directory, "a directory"),
            (&link, "a symbolic link"),
        ] {
            let expected = format!(
                "skipped `{}` in the runtime directory: not a regular file ({kind}), left alone",
                path.display()
            );
            assert!(
                skipped.contains(&expected),
                "{expected:?} not in {skipped:?}"
            );
            assert!(
                fs::symlink_metadata(path).is_ok(),
                "{} was removed",
                path.display()
            );
        }
        // The dead pid's record the link pointed to was pruned.
        assert!(!record_path(dir.path(), 4_000_000_000).exists());
    }

    #[test]
    fn a_record_is_written_afresh_over_junk() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        // A FIFO where the temporary file goes: opening it for writing would wait for a reader.
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join(format!(".{me}.json.tmp")))
            .status()
            .unwrap();
        assert!(made.success());
        let path = dir.path().to_owned();
        bounded(move || record(me).write(&path)).unwrap();
        assert_eq!(Record::read(dir.path(), me), Some(record(me)));
    }

    #[test]
    fn a_private_dir_is_made_or_checked_and_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        // Made, with its parents, private.
        let made = private_dir(dir.path().join("a/b")).unwrap();
        assert_eq!(
            fs::metadata(&made).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // There already: checked, not made again.
        assert_eq!(private_dir(made.clone()).unwrap(), made);
        // Open to others, a symbolic link to a private directory, a file: refused.
        fs::set_permissions(dir.path().join("a"), fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            private_dir(dir.path().join("a")),
            Err(RuntimeError::NotPrivate { mode: 0o755, .. })
        ));
        std::os::unix::fs::symlink(&made, dir.path().join("link")).unwrap();
        assert!(matches!(
            private_dir(dir.path().join("link")),
            Err(RuntimeError::NotPrivate { .. })
        ));
        fs::write(dir.path().join("file"), "").unwrap();
        assert!(private_dir(dir.path().join("file")).is_err());
    }

    #[test]
    fn a_shared_base_is_a_real_directory_others_cannot_clear() {
        let dir = tempfile::tempdir().unwrap();
        let base = |name: &str, mode: Option<u32>| {
            let path = dir.path().join(name);
            fs::create_dir(&path).unwrap();
            if let Some(mode) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            }
            shared_base(&path)
        };
        // /dev/shm's and /tmp's mode: anyone writes, only the owner of an entry removes it.
        assert!(base("sticky", Some(0o1777)).is_some());
        assert!(base("private", Some(0o755)).is_some());
        // Anyone could rename or remove the per-user directory in it.
        assert_eq!(base("open", Some(0o777)), None);
        assert_eq!(shared_base(&dir.path().join("missing")), None);
        fs::write(dir.path().join("file"), "").unwrap();
        assert_eq!(shared_base(&dir.path().join("file")), None);
        std::os::unix::fs::symlink(dir.path().join("sticky"), dir.path().join("link")).unwrap();
        assert_eq!(shared_base(&dir.path().join("link")), None);
        // Someone else's directory closed to others: this user could not make its own in it.
        if getuid().is_root() {
            let theirs = dir.path().join("theirs");
            fs::create_dir(&theirs).unwrap();
            fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
            nix::unistd::chown(&theirs, Some(Uid::from_raw(65534)), None).unwrap();
            assert_eq!(shared_base(&theirs), None);
        }
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
