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
/// `Commit`, `Outcome`, `Settle`); version 3 the challenge–response handshake, in which the token
/// never crosses the wire ([`crate::auth`]).
pub const PROTOCOL_VERSION: u16 = 3;

/// The largest frame after the handshake: the largest image (an embedded program of the largest
/// `.mvb` size and the largest heap), plus room.
pub const MAX_FRAME: usize = mova_lang::image::MAX_IMAGE_LEN + (4 << 20);

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

impl serde::Serialize for MigrationId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MigrationId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MigrationId::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a migration id ({MIGRATION_ID_LEN} bytes in hex)"
            ))
        })
    }
}

/// What a VM says about itself (`Info`). On the wire it is one JSON object
/// ([`encode`](VmInfo::encode), [`decode`](VmInfo::decode)) whose fields `docs/protocol.md`
/// lists; here the facts that go together are together, so that a state comes with its hand-off
/// and a loaded program with its position.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "WireInfo", try_from = "WireInfo")]
pub struct VmInfo {
    pub pid: u32,
    pub addr: String,
    /// What the VM was started with (`(serve)` for a blank VM).
    pub program: String,
    /// Unix milliseconds.
    pub started_ms: u64,
    pub state: VmState,
    /// Whether a client holds the VM (a save, restore or migration in progress).
    pub held: bool,
    /// How many restored images were committed since the VM started.
    pub restores: u64,
    /// The program loaded, and where it is; `None` for a blank VM.
    pub loaded: Option<Loaded>,
    /// Read when the answer was made, as `now_ms` (Unix milliseconds) is.
    pub uptime_ms: u64,
    pub now_ms: u64,
}

/// The state of a VM, as `Info` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmState {
    Running,
    Paused,
    /// An image was restored and awaits its `Commit`.
    Restored,
    /// A blank VM, waiting for an image that carries its program.
    Waiting,
    /// The VM handed its state off to a migration that has not been settled.
    InDoubt(Handoff),
    /// The migration's target took the state: this copy is stale.
    Superseded(Handoff),
}

impl VmState {
    /// The state's name on the wire and in `movahv ps`.
    pub fn name(&self) -> &'static str {
        match self {
            VmState::Running => "running",
            VmState::Paused => "paused",
            VmState::Restored => "restored",
            VmState::Waiting => "waiting",
            VmState::InDoubt(_) => "in doubt",
            VmState::Superseded(_) => "superseded",
        }
    }
}

impl std::fmt::Display for VmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a VM handed its state (`Hold`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub migration: MigrationId,
    pub since_ms: u64,
    /// The target's control address, as the hypervisor reached it.
    pub to_addr: String,
    /// The target's pid, `None` when it is not on the source's host.
    pub to_pid: Option<u32>,
}

impl Handoff {
    /// The target as people read it: `4250 (127.0.0.1:40001)`, or the address alone.
    pub fn target(&self) -> String {
        match self.to_pid {
            None => self.to_addr.clone(),
            Some(pid) => format!("{pid} ({})", self.to_addr),
        }
    }
}

/// The program a VM has loaded, and where it is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub ip: u32,
    pub stack_depth: u64,
    /// The program's length in instructions.
    pub instructions: u64,
    /// SHA-256 of the instructions, in hex (as state images record it).
    pub program_hash: String,
    /// The source file its source map names, if it has one.
    pub source: Option<String>,
}

/// Why an `Info` answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    #[error("info that is not JSON ({0})")]
    NotJson(serde_json::Error),
    /// JSON, but a field is missing, unknown or of the wrong type, or the fields contradict one
    /// another.
    #[error("info that does not describe a VM ({0})")]
    Malformed(serde_json::Error),
}

impl VmInfo {
    /// The JSON object sent on the wire (its keys in alphabetical order).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the JSON object of an `Info` answer: exactly the fields of protocol version 2, each
    /// of its type, and consistent with one another.
    pub fn decode(json: &str) -> Result<VmInfo, InfoError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(InfoError::NotJson)?;
        if !value.is_object() {
            return Err(InfoError::Malformed(serde::de::Error::custom(format!(
                "{value} is not a JSON object"
            ))));
        }
        serde_json::from_value(value).map_err(InfoError::Malformed)
    }

    /// The JSON object as a value, to add fields to (`movahv ps --json`).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) | Err(_) => serde_json::Map::new(),
        }
    }
}

/// `Info`'s JSON object as it is on the wire: flat, every field that is not always there
/// optional. Its fields are in alphabetical order, the order the seed's hypervisor wrote them in.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WireInfo {
    addr: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handoff: Option<Handoff>,
    held: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instructions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<u32>,
    now_ms: u64,
    pid: u32,
    program: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    program_hash: Option<String>,
    restores: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack_depth: Option<u64>,
    started_ms: u64,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    superseded_by: Option<Handoff>,
    uptime_ms: u64,
}

impl From<VmInfo> for WireInfo {
    fn from(info: VmInfo) -> WireInfo {
        let state = info.state.name().to_owned();
        let (handoff, superseded_by) = match info.state {
            VmState::InDoubt(handoff) => (Some(handoff), None),
            VmState::Superseded(handoff) => (None, Some(handoff)),
            VmState::Running | VmState::Paused | VmState::Restored | VmState::Waiting => {
                (None, None)
            }
        };
        let loaded = info.loaded;
        WireInfo {
            addr: info.addr,
            handoff,
            held: info.held,
            instructions: loaded.as_ref().map(|loaded| loaded.instructions),
            ip: loaded.as_ref().map(|loaded| loaded.ip),
            now_ms: info.now_ms,
            pid: info.pid,
            program: info.program,
            program_hash: loaded.as_ref().map(|loaded| loaded.program_hash.clone()),
            restores: info.restores,
            source: loaded.as_ref().and_then(|loaded| loaded.source.clone()),
            stack_depth: loaded.as_ref().map(|loaded| loaded.stack_depth),
            started_ms: info.started_ms,
            state,
            superseded_by,
            uptime_ms: info.uptime_ms,
        }
    }
}

impl TryFrom<WireInfo> for VmInfo {
    type Error = String;

    fn try_from(wire: WireInfo) -> Result<VmInfo, String> {
        let state = match (wire.state.as_str(), wire.handoff, wire.superseded_by) {
            ("running", None, None) => VmState::Running,
            ("paused", None, None) => VmState::Paused,
            ("restored", None, None) => VmState::Restored,
            ("waiting", None, None) => VmState::Waiting,
            ("in doubt", Some(handoff), None) => VmState::InDoubt(handoff),
            ("superseded", None, Some(handoff)) => VmState::Superseded(handoff),
            ("in doubt", None, _) => return Err("state `in doubt` without its `handoff`".into()),
            ("superseded", _, None) => {
                return Err("state `superseded` without its `superseded_by`".into());
            }
            (
                state @ ("running" | "paused" | "restored" | "waiting" | "in doubt" | "superseded"),
                handoff,
                _,
            ) => {
                let field = if handoff.is_some() {
                    "handoff"
                } else {
                    "superseded_by"
                };
                return Err(format!("state `{state}` with a `{field}`"));
            }
            (state, _, _) => {
                return Err(format!(
                    "unknown state `{}`, expected one of `running`, `paused`, `restored`, \
                     `waiting`, `in doubt`, `superseded`",
                    state.escape_debug()
                ));
            }
        };
        let loaded = match (
            wire.ip,
            wire.stack_depth,
            wire.instructions,
            wire.program_hash,
        ) {
            (Some(ip), Some(stack_depth), Some(instructions), Some(program_hash)) => Some(Loaded {
                ip,
                stack_depth,
                instructions,
                program_hash,
                source: wire.source,
            }),
            (None, None, None, None) if wire.source.is_none() => None,
            (None, None, None, None) => return Err("a `source` without a loaded program".into()),
            (_, _, _, _) => {
                return Err(
                    "a loaded program needs all of `ip`, `stack_depth`, `instructions` and \
                     `program_hash`"
                        .into(),
                );
            }
        };
        match (&state, &loaded) {
            (VmState::Waiting, Some(_)) => {
                return Err("state `waiting` (a blank VM) with a loaded program".into());
            }
            (VmState::Running | VmState::Paused | VmState::Restored, None) => {
                return Err(format!("state `{state}` without a loaded program"));
            }
            (_, _) => {}
        }
        Ok(VmInfo {
            pid: wire.pid,
            addr: wire.addr,
            program: wire.program,
            started_ms: wire.started_ms,
            state,
            held: wire.held,
            restores: wire.restores,
            loaded,
            uptime_ms: wire.uptime_ms,
            now_ms: wire.now_ms,
        })
    }
}

/// What a client asks of a VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The handshake's first frame: the protocol version and the client's nonce (in version 2,
    /// which had the same layout, the token itself).
    Hello {
        version: u16,
        /// [`crate::auth::NONCE_LEN`] fresh random bytes.
        nonce: Vec<u8>,
    },
    /// The handshake's last frame: the client's proof that it holds the token
    /// ([`crate::auth::proof`]), after the VM proved it in its [`Response::Challenge`].
    Proof(Vec<u8>),
    /// Pause at the next instruction boundary (output flushed).
    Interrupt,
    /// Run again (also commits the image this client restored).
    Resume,
    /// Pause, and return the state image (with the program embedded if asked).
    Save { with_program: bool },
    /// Load an image. It is checked against the VM's program (or, for a blank VM, must carry its
    /// program); the VM stays paused until `Resume`, and drops the image again if this connection
    /// closes first.
    Restore {
        /// The migration this state arrives in.
        migration: MigrationId,
        image: Vec<u8>,
    },
    /// Describe the VM (JSON).
    Info,
    /// Hand the VM's state off to migration `migration`: the VM pauses and stays paused **in
    /// doubt** — whatever happens to any connection — until someone who knows the migration
    /// settles it (`Settle`) or stops the VM. A migration holds its source so between committing
    /// the target and stopping the source.
    Hold {
        migration: MigrationId,
        /// The target's pid, 0 when it is not on this host (or not known).
        to_pid: u32,
        /// The target's control address, as the hypervisor reached it.
        to_addr: String,
    },
    /// Commit the state this client restored in `migration`: run it (`run`) or keep it paused.
    /// Refused unless that state is pending here.
    Commit {
        migration: MigrationId,
        /// Whether to run it at once.
        run: bool,
    },
    /// What this VM knows of `migration` as its target. With `abort`, a pending (uncommitted)
    /// state of that migration is dropped first, so that the answer is final: `NotTaken` then
    /// means it never runs here.
    Outcome {
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
    Image(Vec<u8>),
    /// A description of the VM: [`VmInfo`]'s JSON object.
    Info(String),
    /// The answer to `Outcome`.
    Outcome(MigrationOutcome),
    /// The answer to a `Hello`: the VM's nonce, and its proof that it holds the token.
    Challenge {
        nonce: Vec<u8>,
        proof: Vec<u8>,
    },
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
        limit: usize,
    },
    /// The frame's content is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// The kind byte of each frame (docs/protocol.md, "Frames").
pub mod kind {
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
    pub const PROOF: u8 = 0x0C;
    pub const OK: u8 = 0x81;
    pub const ERROR: u8 = 0x82;
    pub const IMAGE: u8 = 0x83;
    pub const INFO_REPLY: u8 = 0x84;
    pub const OUTCOME_REPLY: u8 = 0x85;
    pub const CHALLENGE: u8 = 0x86;
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
            Request::Hello { version, nonce } => {
                let mut payload = version.to_be_bytes().to_vec();
                payload.extend_from_slice(nonce);
                write_frame(out, kind::HELLO, &payload)
            }
            Request::Proof(proof) => write_frame(out, kind::PROOF, proof),
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
                let (version, nonce) = payload
                    .split_first_chunk::<2>()
                    .ok_or_else(|| FrameError::Malformed("short hello".into()))?;
                Ok(Request::Hello {
                    version: u16::from_be_bytes(*version),
                    nonce: nonce.to_vec(),
                })
            }
            kind::PROOF => Ok(Request::Proof(payload)),
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
            Response::Challenge { nonce, proof } => {
                let mut payload = nonce.clone();
                payload.extend_from_slice(proof);
                write_frame(out, kind::CHALLENGE, &payload)
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
            kind::CHALLENGE => {
                use crate::auth::{NONCE_LEN, PROOF_LEN};
                if payload.len() != NONCE_LEN + PROOF_LEN {
                    return Err(FrameError::Malformed(format!(
                        "a challenge is {NONCE_LEN} bytes of nonce and {PROOF_LEN} of proof"
                    )));
                }
                let (nonce, proof) = payload.split_at(NONCE_LEN);
                Ok(Response::Challenge {
                    nonce: nonce.to_vec(),
                    proof: proof.to_vec(),
                })
            }
            other => Err(FrameError::Malformed(format!(
                "unknown response kind 0x{other:02X}"
            ))),
        }
    }
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
            nonce: vec![7; crate::auth::NONCE_LEN],
        });
        round_trip(Request::Proof(vec![9; crate::auth::PROOF_LEN]));
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
            Response::Challenge {
                nonce: vec![1; crate::auth::NONCE_LEN],
                proof: vec![2; crate::auth::PROOF_LEN],
            },
        ] {
            let mut bytes = Vec::new();
            response.write(&mut bytes).unwrap();
            assert_eq!(Response::read(&mut bytes.as_slice()).unwrap(), response);
        }
    }

    fn handoff() -> Handoff {
        Handoff {
            migration: MigrationId([0x5f; MIGRATION_ID_LEN]),
            since_ms: 1_763_700_000_500,
            to_addr: "127.0.0.1:40001".into(),
            to_pid: Some(4250),
        }
    }

    fn info(state: VmState, loaded: bool) -> VmInfo {
        VmInfo {
            pid: 4242,
            addr: "127.0.0.1:38565".into(),
            program: "examples/loop.mova".into(),
            started_ms: 1_763_700_000_000,
            state,
            held: true,
            restores: 2,
            loaded: loaded.then(|| Loaded {
                ip: 3,
                stack_depth: 1,
                instructions: 5,
                program_hash: "ab".repeat(32),
                source: Some("examples/loop.mova".into()),
            }),
            uptime_ms: 1500,
            now_ms: 1_763_700_001_500,
        }
    }

    #[test]
    fn info_round_trips_in_every_state() {
        let remote = Handoff {
            to_pid: None,
            ..handoff()
        };
        for (state, loaded) in [
            (VmState::Running, true),
            (VmState::Paused, true),
            (VmState::Restored, true),
            (VmState::Waiting, false),
            (VmState::InDoubt(handoff()), true),
            (VmState::InDoubt(remote.clone()), false),
            (VmState::Superseded(remote), true),
        ] {
            let info = info(state, loaded);
            assert_eq!(VmInfo::decode(&info.encode()).unwrap(), info);
        }
        let mut without_map = info(VmState::Running, true);
        if let Some(loaded) = &mut without_map.loaded {
            loaded.source = None;
        }
        assert_eq!(VmInfo::decode(&without_map.encode()).unwrap(), without_map);
    }

    #[test]
    fn info_is_the_json_object_of_protocol_version_2() {
        // Byte for byte what the VM sent before `Info` was typed: keys in alphabetical order, a
        // hand-off's target pid `null` when it is not local.
        let running = info(VmState::Running, true);
        assert_eq!(
            running.encode(),
            format!(
                "{{\"addr\":\"127.0.0.1:38565\",\"held\":true,\"instructions\":5,\"ip\":3,\
                 \"now_ms\":1763700001500,\"pid\":4242,\"program\":\"examples/loop.mova\",\
                 \"program_hash\":\"{}\",\"restores\":2,\"source\":\"examples/loop.mova\",\
                 \"stack_depth\":1,\"started_ms\":1763700000000,\"state\":\"running\",\
                 \"uptime_ms\":1500}}",
                "ab".repeat(32)
            )
        );
        let waiting = info(
            VmState::Superseded(Handoff {
                to_pid: None,
                ..handoff()
            }),
            false,
        );
        assert_eq!(
            waiting.encode(),
            format!(
                "{{\"addr\":\"127.0.0.1:38565\",\"held\":true,\"now_ms\":1763700001500,\
                 \"pid\":4242,\"program\":\"examples/loop.mova\",\"restores\":2,\
                 \"started_ms\":1763700000000,\"state\":\"superseded\",\"superseded_by\":\
                 {{\"migration\":\"{}\",\"since_ms\":1763700000500,\"to_addr\":\
                 \"127.0.0.1:40001\",\"to_pid\":null}},\"uptime_ms\":1500}}",
                "5f".repeat(16)
            )
        );
        // The object `ps --json` extends is the same, keys sorted.
        let map = running.to_json();
        assert_eq!(serde_json::Value::Object(map).to_string(), running.encode());
    }

    /// Decodes `info`'s encoding with `edit` applied to its JSON object.
    fn forged(
        info: &VmInfo,
        edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> Result<VmInfo, InfoError> {
        let mut map = info.to_json();
        edit(&mut map);
        VmInfo::decode(&serde_json::Value::Object(map).to_string())
    }

    #[test]
    fn forged_info_is_a_typed_error() {
        let running = info(VmState::Running, true);
        let in_doubt = info(VmState::InDoubt(handoff()), true);
        let malformed = |result: Result<VmInfo, InfoError>, says: &str| match result {
            Err(InfoError::Malformed(error)) => {
                assert!(error.to_string().contains(says), "{error} lacks {says:?}");
            }
            other => panic!("expected a malformed info saying {says:?}, got {other:?}"),
        };
        malformed(
            forged(&running, |map| {
                map.remove("state");
            }),
            "missing field `state`",
        );
        malformed(
            forged(&running, |map| {
                map.insert("restore".into(), 1.into());
            }),
            "unknown field `restore`",
        );
        malformed(
            forged(&running, |map| {
                map.insert("held".into(), "yes".into());
            }),
            "invalid type",
        );
        malformed(
            forged(&running, |map| {
                map.insert("pid".into(), (-1).into());
            }),
            "invalid value",
        );
        malformed(
            forged(&running, |map| {
                map.insert("state".into(), "restores".into());
            }),
            "unknown state `restores`",
        );
        // The state is the VM's to say, and is shown escaped.
        malformed(
            forged(&running, |map| {
                map.insert("state".into(), "\u{1b}[2Jrunning".into());
            }),
            "unknown state `\\u{1b}[2Jrunning`",
        );
        malformed(
            forged(&in_doubt, |map| {
                map.remove("handoff");
            }),
            "without its `handoff`",
        );
        malformed(
            forged(&running, |map| {
                map.insert(
                    "superseded_by".into(),
                    serde_json::to_value(handoff()).unwrap(),
                );
            }),
            "state `running` with a `superseded_by`",
        );
        malformed(
            forged(&in_doubt, |map| {
                map["handoff"]["migration"] = "xyz".into();
            }),
            "`xyz` is not a migration id",
        );
        malformed(
            forged(&in_doubt, |map| {
                map["handoff"]["extra"] = 1.into();
            }),
            "unknown field `extra`",
        );
        malformed(
            forged(&running, |map| {
                map.remove("ip");
            }),
            "needs all of `ip`",
        );
        malformed(
            forged(&running, |map| {
                for key in [
                    "ip",
                    "stack_depth",
                    "instructions",
                    "program_hash",
                    "source",
                ] {
                    map.remove(key);
                }
            }),
            "state `running` without a loaded program",
        );
        malformed(
            forged(&info(VmState::Waiting, false), |map| {
                map.insert("source".into(), "x.mova".into());
            }),
            "a `source` without a loaded program",
        );
        malformed(VmInfo::decode("[]"), "[] is not a JSON object");
        for not_json in ["", "{", "{\"pid\":", "running"] {
            assert!(
                matches!(VmInfo::decode(not_json), Err(InfoError::NotJson(_))),
                "{not_json:?}"
            );
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
}
