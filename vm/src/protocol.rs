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

/// The protocol version the handshake names.
pub const PROTOCOL_VERSION: u16 = 1;

/// The largest frame after the handshake: an image with an embedded program of the largest
/// `.mvb` size, plus room.
pub const MAX_FRAME: usize = mova_lang::mvb::MAX_FILE_LEN + (4 << 20);

/// The largest frame before the handshake has succeeded.
pub const MAX_HELLO_FRAME: usize = 256;

/// The number of bytes in a VM's secret token.
pub const TOKEN_LEN: usize = 32;

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
    /// Run again (also commits a restored image).
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
        /// The image bytes.
        image: Vec<u8>,
    },
    /// Describe the VM (JSON).
    Info,
    /// Pause and hold the VM for this client, like `Save` but firmly: if this connection closes
    /// before the client resumes, interrupts or stops the VM, it stays paused (a `Save`'s hold
    /// would resume it). A migration holds its source so between committing the target and
    /// stopping the source.
    Hold,
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
    pub const OK: u8 = 0x81;
    pub const ERROR: u8 = 0x82;
    pub const IMAGE: u8 = 0x83;
    pub const INFO_REPLY: u8 = 0x84;
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
            Request::Restore { image } => write_frame(out, kind::RESTORE, image),
            Request::Info => write_frame(out, kind::INFO, &[]),
            Request::Stop { reason } => write_frame(out, kind::STOP, reason.as_bytes()),
            Request::Hold => write_frame(out, kind::HOLD, &[]),
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
            kind::RESTORE => Ok(Request::Restore { image: payload }),
            kind::INFO => empty(Request::Info),
            kind::HOLD => empty(Request::Hold),
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
        round_trip(Request::Interrupt);
        round_trip(Request::Hold);
        round_trip(Request::Resume);
        round_trip(Request::Save { with_program: true });
        round_trip(Request::Restore {
            image: vec![1, 2, 3],
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
