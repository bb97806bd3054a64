//! `movahv`'s library: finding VMs, commanding them, migrating a computation between them, and
//! reading saved state images. The `movahv` binary's one-shot commands and its interactive shell
//! both call these functions.

pub mod commands;
pub mod inspect;
pub mod migrate;
pub mod ps;
pub mod shell;

use mova_compiler::report;
use mova_compiler::stdio::StdoutError;
use mova_vm::client::{Client, ClientError};
use mova_vm::runtime::{self, Record, RecordError, RuntimeError};
use mova_vm::tls::{Fingerprint, Trust};
use std::io;
use std::path::PathBuf;

/// Why a hypervisor command failed.
#[derive(Debug, thiserror::Error)]
pub enum HvError {
    /// No VM with this pid has a runtime record.
    #[error("no Mova VM with pid {pid} is running (see `movahv ps`)")]
    NoSuchVm { pid: u32 },
    /// The runtime directory is unusable.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Talking to a VM failed, or it refused.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A file could not be read or written.
    #[error("{what} `{}`: {source}", path.display())]
    File {
        /// What was being done.
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A file could not be loaded (unreadable, too large, not UTF-8).
    #[error(transparent)]
    Load(#[from] mova_compiler::driver::DriverError),
    /// A state image is invalid.
    #[error("`{}`: {source}", path.display())]
    Image {
        path: PathBuf,
        source: mova_lang::image::ImageError,
    },
    /// A sealed image (or one that should be) is refused.
    #[error("`{}`: {source}", path.display())]
    Seal {
        path: PathBuf,
        source: mova_lang::seal::SealError,
    },
    /// The command line or shell input is wrong.
    #[error("{0}")]
    Usage(String),
    /// A migration failed, saying what state it left each VM in.
    #[error(transparent)]
    Migrate(Box<migrate::MigrateError>),
    /// A VM left in doubt could not be given its computation back.
    #[error(transparent)]
    Resolve(#[from] migrate::ResolveError),
    /// A copy between VMs (`wstate`) failed; the message says what state each VM was left in.
    #[error("{0}")]
    Migration(String),
    /// Standard output could not be written.
    #[error(transparent)]
    Output(#[from] StdoutError),
    /// A command failed after it had paused a VM, and put the VM back as it was.
    #[error("{error}; {vm} {}", if *.was_running { "runs on as before" } else { "stays paused as before" })]
    Undone {
        /// Why the command failed.
        error: Box<HvError>,
        /// The VM put back.
        vm: Target,
        /// Whether it was running before the command (and runs again).
        was_running: bool,
    },
}

impl From<migrate::MigrateError> for HvError {
    fn from(error: migrate::MigrateError) -> HvError {
        HvError::Migrate(Box::new(error))
    }
}

/// Where a VM is: a local pid (found through its runtime record) or a remote `host:port` (whose
/// token must be given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A VM on this host.
    Pid(u32),
    /// A VM elsewhere.
    Remote(String),
}

impl Target {
    /// Parses a pid or a `host:port`.
    pub fn parse(text: &str) -> Result<Target, HvError> {
        if let Ok(pid) = text.parse::<u32>() {
            return Ok(Target::Pid(pid));
        }
        if text
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        {
            return Ok(Target::Remote(text.to_owned()));
        }
        Err(HvError::Usage(format!(
            "`{text}` is neither a pid nor a host:port"
        )))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Pid(pid) => write!(f, "{pid}"),
            Target::Remote(addr) => f.write_str(addr),
        }
    }
}

/// The runtime record of the local VM `pid`.
pub fn record(pid: u32) -> Result<Record, HvError> {
    let dir = runtime::runtime_dir()?;
    match Record::load(&dir, pid) {
        Ok(record) if runtime::alive(pid) => Ok(record),
        Ok(_) => {
            // The VM died without removing its record.
            let _ = std::fs::remove_file(runtime::record_path(&dir, pid));
            Err(HvError::NoSuchVm { pid })
        }
        Err(RecordError::Missing | RecordError::Malformed) => Err(HvError::NoSuchVm { pid }),
        Err(reason @ (RecordError::NotRegular(_) | RecordError::Unreadable(_))) => {
            warn(&runtime::Skipped {
                path: runtime::record_path(&dir, pid),
                reason,
            });
            Err(HvError::NoSuchVm { pid })
        }
    }
}

/// Warns on standard error (a warning that cannot be written is dropped).
pub fn warn(message: &dyn std::fmt::Display) {
    report!("warning: {message}");
}

/// How to reach a remote VM (one given by address): its token and, for one off the loopback, the
/// fingerprint of its TLS certificate (without one, the known hosts file decides).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remote {
    /// The token, hex, from the VM's runtime record.
    pub token: Option<String>,
    /// `sha256:` and 64 hex digits, from the VM's runtime record.
    pub fingerprint: Option<String>,
}

impl Remote {
    pub fn new(token: Option<String>, fingerprint: Option<String>) -> Remote {
        Remote { token, fingerprint }
    }
}

/// Connects to a VM: by its record for a pid, or with `remote`'s token (and fingerprint) for a
/// remote address. `MOVA_TLS_CA`, when set, names a PEM file of CA certificates: a remote VM's
/// certificate must then be signed by one of them for its address (and match the fingerprint
/// given, if one is).
pub fn connect(target: &Target, remote: &Remote) -> Result<Client, HvError> {
    match target {
        Target::Pid(pid) => Ok(Client::to_record(&record(*pid)?)?),
        Target::Remote(addr) => {
            let token = remote.token.as_deref().ok_or_else(|| {
                HvError::Usage(format!(
                    "`{addr}` is a remote VM: give its token with --token (from its runtime record)"
                ))
            })?;
            let bytes = runtime::decode_hex(token)
                .ok_or_else(|| HvError::Usage("--token must be hexadecimal".into()))?;
            let pinned = remote
                .fingerprint
                .as_deref()
                .map(Fingerprint::parse)
                .transpose()
                .map_err(|error| HvError::Usage(error.to_string()))?;
            let trust = match std::env::var_os("MOVA_TLS_CA").filter(|ca| !ca.is_empty()) {
                Some(ca) => Some(
                    Trust::ca_file(std::path::Path::new(&ca))
                        .map_err(|error| HvError::Usage(format!("MOVA_TLS_CA: {error}")))?,
                ),
                None => pinned.map(Trust::Pinned),
            };
            let client = Client::connect(addr, &bytes, trust)?;
            if let (Some(pin), Some(_)) = (pinned, std::env::var_os("MOVA_TLS_CA")) {
                // With a CA as well, the fingerprint still has to match.
                if client
                    .fingerprint()
                    .is_some_and(|presented| presented != pin)
                {
                    return Err(HvError::Usage(format!(
                        "wrong fingerprint: {addr} presented {}, expected {pin}",
                        client
                            .fingerprint()
                            .map_or_else(String::new, |f| f.to_string())
                    )));
                }
            }
            Ok(client)
        }
    }
}
