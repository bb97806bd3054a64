//! The control protocol between a VM and its clients (the hypervisor): length-prefixed frames,
//! a handshake that proves the client holds the VM's token, and the commands. `docs/protocol.md`
//! describes it byte by byte.
//!
//! ```text
//! frame := u32 length (big-endian, of what follows) | u8 kind | payload
//! ```
//!
//! **Invariant:** reading a frame never allocates more than the bytes that actually arrived, never
//! reads past the declared length, and refuses a length above the limit before reading anything.

use std::io::{self, Read, Write};

/// The protocol version the handshake names. Version 2 added migration ids (`Hold`, `Restore`,
/// `Commit`, `Outcome`, `Settle`).
pub const PROTOCOL_VERSION: u16 = 2;

/// The largest frame after the handshake: an image with an embedded program of the largest
/// `.mvb` size, plus room.
pub const MAX_FRAME: usize = mova_lang::mvb::MAX_FILE_LEN + (4 << 20);

/// The largest frame before the handshake has succeeded.
pub const MAX_HELLO_FRAME: usize = 256;

/// The number of bytes in a VM's secret token.
pub const TOKEN_LEN: usize = 32;

/// The number of bytes in a migration id.
pub const MIGRATION_ID_LEN: usize = 16;

/// Names one migration: random, made by the hypervisor that runs it. The source records it when
/// it hands its state off (`Hold`), the target when it receives (`Restore`) and commits
/// (`Commit`) the state, so that anyone holding the id can later learn from the target whether
/// the migration took place (`Outcome`) and tell the source (`Settle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MigrationId(pub [u8; MIGRATION_ID_LEN]);

impl MigrationId {
    /// A fresh id from the system's random source.
    pub fn random() -> io::Result<MigrationId> {
        crate::runtime::random_bytes().map(MigrationId)
    }

    /// Parses the hex form (as `Info` shows it).
    pub fn from_hex(text: &str) -> Option<MigrationId> {
        let bytes = crate::runtime::decode_hex(text)?;
        Some(MigrationId(bytes.try_into().ok()?))
    }
}

impl std::fmt::Display for MigrationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::runtime::encode_hex(&self.0))
    }
}

/// What a VM knows of a migration, as a target (`Outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationOutcome {
    /// It never received this migration's state, or dropped it uncommitted: it never ran it, and
    /// never will.
    NotTaken,
    /// It holds the state, restored but not committed (its client may still commit it).
    Pending,
    /// It committed the state: the computation runs (or ran) here.
    Committed,
}

/// What a client asks of a VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The handshake: the protocol version and the VM's token.
    Hello {
        /// The client's protocol version.
        version: u16,
        /// The token from the VM's runtime record.
        token: Vec<u8>,
    },
    /// Pause at the next instruction boundary (output flushed).
    Interrupt,
    /// Run again (also commits the image this client restored).
    Resume,
    /// Pause, and return the state image (with the program embedded if asked).
    Save {
        /// Whether to embed the program in the image.
        with_program: bool,
    },
    /// Load an image. It is checked against the VM's program (or, for a blank VM, must carry its
    /// program); the VM stays paused until `Resume`, and drops the image again if this connection
    /// closes first.
    Restore {
        /// The migration this state arrives in.
        migration: MigrationId,
        /// The image bytes.
        image: Vec<u8>,
    },
    /// Describe the VM (JSON).
    Info,
    /// Hand the VM's state off to migration `migration`: the VM pauses and stays paused **in
    /// doubt** — whatever happens to any connection — until someone who knows the migration
    /// settles it (`Settle`) or stops the VM. A migration holds its source so between committing
    /// the target and stopping the source.
    Hold {
        /// The migration.
        migration: MigrationId,
        /// The target's pid, 0 when it is not on this host (or not known).
        to_pid: u32,
        /// The target's control address, as the hypervisor reached it.
        to_addr: String,
    },
    /// Commit the state this client restored in `migration`: run it (`run`) or keep it paused.
    /// Refused unless that state is pending here.
    Commit {
        /// The migration.
        migration: MigrationId,
        /// Whether to run it at once.
        run: bool,
    },
    /// What this VM knows of `migration` as its target. With `abort`, a pending (uncommitted)
    /// state of that migration is dropped first, so that the answer is final: `NotTaken` then
    /// means it never runs here.
    Outcome {
        /// The migration.
        migration: MigrationId,
        /// Drop a pending state of it first.
        abort: bool,
    },
    /// Tell a source in doubt how `migration` ended: `committed` (its target runs the
    /// computation: this VM is superseded and can only be stopped) or not (the VM holds the
    /// computation again, paused).
    Settle {
        /// The migration the source handed its state to.
        migration: MigrationId,
        /// Whether the target committed it.
        committed: bool,
    },
    /// Stop the VM (it exits once it has replied).
    Stop {
        /// Why, for the VM's log.
        reason: String,
    },
}

/// What a VM answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Done.
    Ok,
    /// Refused, with the reason.
    Error(String),
    /// A state image.
    Image(Vec<u8>),
    /// A description of the VM, as JSON.
    Info(String),
    /// The answer to `Outcome`.
    Outcome(MigrationOutcome),
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed or timed out.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The declared length is above the limit.
    #[error("frame of {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// The declared length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The frame's content is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

mod kind {
    pub const HELLO: u8 = 0x01;
    pub const INTERRUPT: u8 = 0x02;
    pub const RESUME: u8 = 0x03;
    pub const SAVE: u8 = 0x04;
    pub const RESTORE: u8 = 0x05;
    pub const INFO: u8 = 0x06;
    pub const STOP: u8 = 0x07;
    pub const HOLD: u8 = 0x08;
    pub const COMMIT: u8 = 0x09;
    pub const OUTCOME: u8 = 0x0A;
    pub const SETTLE: u8 = 0x0B;
    pub const OK: u8 = 0x81;
    pub const ERROR: u8 = 0x82;
    pub const IMAGE: u8 = 0x83;
    pub const INFO_REPLY: u8 = 0x84;
    pub const OUTCOME_REPLY: u8 = 0x85;
}

/// A migration id followed by `rest`, as the payloads of the migration requests begin.
fn with_migration(migration: &MigrationId, rest: &[u8]) -> Vec<u8> {
    let mut payload = migration.0.to_vec();
    payload.extend_from_slice(rest);
    payload
}

/// Splits a payload into the migration id it begins with and the rest.
fn split_migration(payload: &[u8]) -> Result<(MigrationId, &[u8]), FrameError> {
    let (id, rest) = payload
        .split_first_chunk::<MIGRATION_ID_LEN>()
        .ok_or_else(|| FrameError::Malformed("short migration id".into()))?;
    Ok((MigrationId(*id), rest))
}

/// A migration id followed by one flag byte, 0 or 1.
fn migration_and_flag(payload: &[u8], what: &str) -> Result<(MigrationId, bool), FrameError> {
    match split_migration(payload)? {
        (migration, [flag @ (0 | 1)]) => Ok((migration, *flag == 1)),
        _ => Err(FrameError::Malformed(format!(
            "{what} takes a migration id and one byte, 0 or 1"
        ))),
    }
}

/// Writes one frame.
pub fn write_frame(out: &mut impl Write, kind: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len() + 1)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut header = [0u8; 5];
    header[..4].copy_from_slice(&len.to_be_bytes());
    header[4] = kind;
    out.write_all(&header)?;
    out.write_all(payload)?;
    out.flush()
}

/// Reads one frame of at most `limit` bytes, returning its kind and payload.
pub fn read_frame(input: &mut impl Read, limit: usize) -> Result<(u8, Vec<u8>), FrameError> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(FrameError::Closed);
        }
        Err(error) => return Err(error.into()),
    }
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    if len == 0 {
        return Err(FrameError::Malformed("empty frame".into()));
    }
    // `take` + `read_to_end` grows the buffer only as bytes arrive.
    let mut frame = Vec::with_capacity(len.min(64 * 1024));
    input
        .take(u64::try_from(len).unwrap_or(u64::MAX))
        .read_to_end(&mut frame)?;
    if frame.len() < len {
        return Err(FrameError::Malformed(format!(
            "the connection closed after {} of {len} bytes",
            frame.len()
        )));
    }
    let kind = frame.remove(0);
    Ok((kind, frame))
}

impl Request {
    /// Writes the request as a frame.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Request::Hello { version, token } => {
                let mut payload = version.to_be_bytes().to_vec();
                payload.extend_from_slice(token);
                write_frame(out, kind::HELLO, &payload)
            }
            Request::Interrupt => write_frame(out, kind::INTERRUPT, &[]),
            Request::Resume => write_frame(out, kind::RESUME, &[]),
            Request::Save { with_program } => {
                write_frame(out, kind::SAVE, &[u8::from(*with_program)])
            }
            Request::Restore { migration, image } => {
                write_frame(out, kind::RESTORE, &with_migration(migration, image))
            }
            Request::Info => write_frame(out, kind::INFO, &[]),
            Request::Stop { reason } => write_frame(out, kind::STOP, reason.as_bytes()),
            Request::Hold {
                migration,
                to_pid,
                to_addr,
            } => {
                let mut rest = to_pid.to_be_bytes().to_vec();
                rest.extend_from_slice(to_addr.as_bytes());
                write_frame(out, kind::HOLD, &with_migration(migration, &rest))
            }
            Request::Commit { migration, run } => write_frame(
                out,
                kind::COMMIT,
                &with_migration(migration, &[u8::from(*run)]),
            ),
            Request::Outcome { migration, abort } => write_frame(
                out,
                kind::OUTCOME,
                &with_migration(migration, &[u8::from(*abort)]),
            ),
            Request::Settle {
                migration,
                committed,
            } => write_frame(
                out,
                kind::SETTLE,
                &with_migration(migration, &[u8::from(*committed)]),
            ),
        }
    }

    /// Reads a request frame of at most `limit` bytes.
    pub fn read(input: &mut impl Read, limit: usize) -> Result<Request, FrameError> {
        let (kind, payload) = read_frame(input, limit)?;
        Request::parse(kind, payload)
    }

    /// Decodes a request from a frame's kind and payload.
    pub fn parse(kind: u8, payload: Vec<u8>) -> Result<Request, FrameError> {
        let empty = |request: Request| {
            if payload.is_empty() {
                Ok(request)
            } else {
                Err(FrameError::Malformed(format!(
                    "unexpected payload for {request:?}"
                )))
            }
        };
        match kind {
            kind::HELLO => {
                let (version, token) = payload
                    .split_first_chunk::<2>()
                    .ok_or_else(|| FrameError::Malformed("short hello".into()))?;
                Ok(Request::Hello {
                    version: u16::from_be_bytes(*version),
                    token: token.to_vec(),
                })
            }
            kind::INTERRUPT => empty(Request::Interrupt),
            kind::RESUME => empty(Request::Resume),
            kind::SAVE => match payload.as_slice() {
                [flag @ (0 | 1)] => Ok(Request::Save {
                    with_program: *flag == 1,
                }),
                _ => Err(FrameError::Malformed("save takes one byte, 0 or 1".into())),
            },
            kind::RESTORE => {
                let (migration, image) = split_migration(&payload)?;
                Ok(Request::Restore {
                    migration,
                    image: image.to_vec(),
                })
            }
            kind::INFO => empty(Request::Info),
            kind::HOLD => {
                let (migration, rest) = split_migration(&payload)?;
                let (pid, addr) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| FrameError::Malformed("short hold".into()))?;
                Ok(Request::Hold {
                    migration,
                    to_pid: u32::from_be_bytes(*pid),
                    to_addr: String::from_utf8(addr.to_vec()).map_err(|_| {
                        FrameError::Malformed("hold's target address is not UTF-8".into())
                    })?,
                })
            }
            kind::COMMIT => {
                let (migration, run) = migration_and_flag(&payload, "commit")?;
                Ok(Request::Commit { migration, run })
            }
            kind::OUTCOME => {
                let (migration, abort) = migration_and_flag(&payload, "outcome")?;
                Ok(Request::Outcome { migration, abort })
            }
            kind::SETTLE => {
                let (migration, committed) = migration_and_flag(&payload, "settle")?;
                Ok(Request::Settle {
                    migration,
                    committed,
                })
            }
            kind::STOP => Ok(Request::Stop {
                reason: String::from_utf8(payload)
                    .map_err(|_| FrameError::Malformed("stop reason is not UTF-8".into()))?,
            }),
            other => Err(FrameError::Malformed(format!(
                "unknown request kind 0x{other:02X}"
            ))),
        }
    }
}

impl Response {
    /// Writes the response as a frame.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Response::Ok => write_frame(out, kind::OK, &[]),
            Response::Error(message) => write_frame(out, kind::ERROR, message.as_bytes()),
            Response::Image(image) => write_frame(out, kind::IMAGE, image),
            Response::Info(json) => write_frame(out, kind::INFO_REPLY, json.as_bytes()),
            Response::Outcome(outcome) => {
                let byte = match outcome {
                    MigrationOutcome::NotTaken => 0,
                    MigrationOutcome::Pending => 1,
                    MigrationOutcome::Committed => 2,
                };
                write_frame(out, kind::OUTCOME_REPLY, &[byte])
            }
        }
    }

    /// Reads a response frame.
    pub fn read(input: &mut impl Read) -> Result<Response, FrameError> {
        let (kind, payload) = read_frame(input, MAX_FRAME)?;
        let text = |payload: Vec<u8>| {
            String::from_utf8(payload)
                .map_err(|_| FrameError::Malformed("text is not UTF-8".into()))
        };
        match kind {
            kind::OK if payload.is_empty() => Ok(Response::Ok),
            kind::ERROR => Ok(Response::Error(text(payload)?)),
            kind::IMAGE => Ok(Response::Image(payload)),
            kind::INFO_REPLY => Ok(Response::Info(text(payload)?)),
            kind::OUTCOME_REPLY => match payload.as_slice() {
                [0] => Ok(Response::Outcome(MigrationOutcome::NotTaken)),
                [1] => Ok(Response::Outcome(MigrationOutcome::Pending)),
                [2] => Ok(Response::Outcome(MigrationOutcome::Committed)),
                _ => Err(FrameError::Malformed(
                    "an outcome is one byte, 0, 1 or 2".into(),
                )),
            },
            other => Err(FrameError::Malformed(format!(
                "unknown response kind 0x{other:02X}"
            ))),
        }
    }
}

/// Compares two tokens in time that depends only on their lengths.
pub fn tokens_match(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(request: Request) {
        let mut bytes = Vec::new();
        request.write(&mut bytes).unwrap();
        assert_eq!(
            Request::read(&mut bytes.as_slice(), MAX_FRAME).unwrap(),
            request
        );
    }

    #[test]
    fn requests_and_responses_round_trip() {
        round_trip(Request::Hello {
            version: 1,
            token: vec![7; TOKEN_LEN],
        });
        let migration = MigrationId([5; MIGRATION_ID_LEN]);
        round_trip(Request::Interrupt);
        round_trip(Request::Hold {
            migration,
            to_pid: 4250,
            to_addr: "127.0.0.1:40001".into(),
        });
        round_trip(Request::Resume);
        round_trip(Request::Save { with_program: true });
        round_trip(Request::Restore {
            migration,
            image: vec![1, 2, 3],
        });
        round_trip(Request::Commit {
            migration,
            run: false,
        });
        round_trip(Request::Outcome {
            migration,
            abort: true,
        });
        round_trip(Request::Settle {
            migration,
            committed: true,
        });
        round_trip(Request::Info);
        round_trip(Request::Stop {
            reason: "migrated".into(),
        });
        for response in [
            Response::Ok,
            Response::Error("no".into()),
            Response::Image(vec![9; 10]),
            Response::Info("{}".into()),
            Response::Outcome(MigrationOutcome::NotTaken),
            Response::Outcome(MigrationOutcome::Pending),
            Response::Outcome(MigrationOutcome::Committed),
        ] {
            let mut bytes = Vec::new();
            response.write(&mut bytes).unwrap();
            assert_eq!(Response::read(&mut bytes.as_slice()).unwrap(), response);
        }
    }

    #[test]
    fn oversized_truncated_and_unknown_frames_are_refused() {
        let huge = [0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert!(matches!(
            Request::read(&mut huge.as_slice(), MAX_HELLO_FRAME),
            Err(FrameError::TooLarge { .. })
        ));
        let short = [0, 0, 0, 10, 0x05, 1, 2];
        assert!(matches!(
            Request::read(&mut short.as_slice(), MAX_FRAME),
            Err(FrameError::Malformed(_))
        ));
        let unknown = [0, 0, 0, 1, 0x7F];
        assert!(matches!(
            Request::read(&mut unknown.as_slice(), MAX_FRAME),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            Request::read(&mut [].as_slice(), MAX_FRAME),
            Err(FrameError::Closed)
        ));
        let extra = [0, 0, 0, 2, 0x02, 9];
        assert!(matches!(
            Request::read(&mut extra.as_slice(), MAX_FRAME),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(tokens_match(b"abc", b"abc"));
        assert!(!tokens_match(b"abc", b"abd"));
        assert!(!tokens_match(b"abc", b"ab"));
    }
}
