//! The client side of the control protocol, as the hypervisor uses it: connect, authenticate, and
//! one method per command.

// Each command expects one kind of answer and treats every other kind as unexpected; a catch-all
// arm says exactly that, and a new kind of answer is rightly unexpected too.
#![allow(clippy::wildcard_enum_match_arm)]

use crate::auth::{self, HandshakeError};
use crate::protocol::{
    FrameError, InfoError, MigrationId, MigrationOutcome, Request, Response, VmInfo,
};
use crate::runtime::Record;
use crate::tls::{self, Fingerprint, Stream, Trust, Verifier};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;

/// The host part of `host:port` (an IPv6 address without its brackets), as known hosts name it.
pub fn host_of(addr: &str) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}
use std::time::Duration;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a VM may take to answer a command that moves a state image (a save or restore of
/// the largest image, over a slow link).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a VM may take to answer any other command. The interpreter serves a request at its
/// next instruction boundary, so a live VM answers in microseconds; one that does not answer
/// within this is stopped (SIGSTOP), or cut off, and is treated as a lost answer.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// An authenticated connection to a VM.
#[derive(Debug)]
pub struct Client {
    stream: Stream,
    addr: SocketAddr,
    /// The fingerprint of the VM's TLS certificate, on a TLS connection.
    fingerprint: Option<Fingerprint>,
}

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The VM could not be reached.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// The connection failed while talking.
    #[error("connection to {addr} failed: {source}")]
    Frame {
        addr: SocketAddr,
        source: FrameError,
    },
    /// The VM did not answer in time (it is stopped, e.g. by SIGSTOP, or cut off).
    #[error("{addr} did not answer within {} s (is the VM stopped, or cut off?)", after.as_secs())]
    NoAnswer {
        addr: SocketAddr,
        /// How long it was given.
        after: Duration,
    },
    /// The VM refused the command.
    #[error("{0}")]
    Refused(String),
    /// The VM's certificate was not trusted, or the TLS session could not be set up.
    #[error("refusing {addr}: {reason}")]
    Tls { addr: SocketAddr, reason: String },
    /// The peer failed the handshake: it could not prove it holds the token, or answered out of
    /// turn.
    #[error("refusing {addr}: {reason}")]
    Handshake { addr: SocketAddr, reason: String },
    /// The VM answered `Info` with something that does not describe a VM.
    #[error("unexpected answer from {addr}: {source}")]
    BadInfo { addr: SocketAddr, source: InfoError },
    /// The VM answered with something that does not fit the command.
    #[error("unexpected answer from {addr}: {answer}")]
    Unexpected { addr: SocketAddr, answer: String },
}

impl Client {
    /// Connects to the VM a runtime record describes, trusting the certificate whose fingerprint
    /// the record holds when the channel speaks TLS.
    pub fn to_record(record: &Record) -> Result<Client, ClientError> {
        let malformed = |what: &str| {
            ClientError::Refused(format!(
                "the runtime record of pid {} has a malformed {what}",
                record.pid
            ))
        };
        let token = record.token_bytes().ok_or_else(|| malformed("token"))?;
        let trust = match &record.fingerprint {
            Some(text) => Some(Trust::Pinned(
                Fingerprint::parse(text).map_err(|_| malformed("fingerprint"))?,
            )),
            None => None,
        };
        Client::connect(&record.addr.to_string(), &token, trust)
    }

    /// Connects to `addr` (`host:port`) and authenticates with `token`. Off the loopback the
    /// channel is TLS, and the VM's certificate must satisfy `trust` (without one, the known
    /// hosts file decides: see [`Trust::KnownHosts`]); nothing is sent to a VM that does not,
    /// and nothing ever falls back to plain TCP.
    pub fn connect(addr: &str, token: &[u8], trust: Option<Trust>) -> Result<Client, ClientError> {
        let connect_error = |source| ClientError::Connect {
            addr: addr.to_owned(),
            source,
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        let mut stream = None;
        for candidate in addr.to_socket_addrs().map_err(connect_error)? {
            match TcpStream::connect_timeout(&candidate, CONNECT_TIMEOUT) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last = error,
            }
        }
        let tcp = stream.ok_or_else(|| connect_error(last))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(PROMPT_TIMEOUT))
            .map_err(connect_error)?;
        tcp.set_write_timeout(Some(ANSWER_TIMEOUT))
            .map_err(connect_error)?;
        let peer = tcp.peer_addr().map_err(connect_error)?;
        let host = host_of(addr);
        // A VM off the loopback speaks only TLS, and so does one whose fingerprint is known
        // (a VM listening on all addresses, reached through the loopback).
        let (config, verifier, unknown) = if trust.is_some() || tls::required_for(peer.ip()) {
            let trust = match trust {
                Some(trust) => trust,
                None => Trust::KnownHosts {
                    file: tls::known_hosts_file().map_err(|error| ClientError::Tls {
                        addr: peer,
                        reason: error.to_string(),
                    })?,
                    host: host.clone(),
                    strict: false,
                },
            };
            let unknown = match &trust {
                Trust::KnownHosts { file, host, .. } => {
                    tls::known_fingerprint(file, host).ok().flatten().is_none()
                }
                Trust::Pinned(_) | Trust::Ca(_) => false,
            };
            let verifier = Arc::new(Verifier::new(trust.clone()));
            let config =
                tls::client_config(Arc::clone(&verifier)).map_err(|error| ClientError::Tls {
                    addr: peer,
                    reason: error.to_string(),
                })?;
            (Some(config), Some((verifier, trust)), unknown)
        } else {
            (None, None, false)
        };
        let stream = Stream::connect(tcp, &host, config).map_err(connect_error)?;
        let mut client = Client {
            stream,
            addr: peer,
            fingerprint: None,
        };
        client
            .stream
            .set_deadline(Some(std::time::Instant::now() + PROMPT_TIMEOUT));
        if let Err(error) = client.stream.handshake() {
            let reason = verifier
                .as_ref()
                .and_then(|(verifier, _)| verifier.refusal())
                .unwrap_or_else(|| error.to_string());
            return Err(ClientError::Tls { addr: peer, reason });
        }
        client.fingerprint = verifier
            .as_ref()
            .and_then(|(verifier, _)| verifier.presented());
        let binding = client
            .stream
            .binding()
            .map_err(|error| client.frame_error(FrameError::Io(error), PROMPT_TIMEOUT))?;
        let addr = peer;
        let shook = auth::client_handshake(&mut client.stream, token, &binding);
        client.stream.set_deadline(None);
        // The deadline left the socket's timeouts at what remained of it; images need longer.
        let _ = client.stream.tcp().set_write_timeout(Some(ANSWER_TIMEOUT));
        shook.map_err(|error| match error {
            HandshakeError::Frame(source) => client.frame_error(source, PROMPT_TIMEOUT),
            HandshakeError::Refused(reason) => ClientError::Refused(reason),
            error @ (HandshakeError::Impostor | HandshakeError::Unexpected(_)) => {
                ClientError::Handshake {
                    addr,
                    reason: error.to_string(),
                }
            }
        })?;
        // Trusted on first use, now that the VM proved it holds the token in this session.
        if let (true, Some((verifier, Trust::KnownHosts { file, host, .. }))) = (unknown, &verifier)
            && let Some(fingerprint) = verifier.presented()
        {
            match tls::remember(file, host, fingerprint) {
                Ok(()) => mova_compiler::report!(
                    "note: trusting {host} from now on: its certificate is {fingerprint} \
                     (recorded in {})",
                    file.display()
                ),
                Err(error) => mova_compiler::report!("warning: {error}"),
            }
        }
        Ok(client)
    }

    /// The fingerprint of the certificate the VM presented, on a TLS connection.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint
    }

    /// The VM's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the VM has already closed this connection (a request sent now could not reach
    /// it). It looks without waiting and without consuming anything.
    pub fn closed_by_peer(&mut self) -> bool {
        self.stream.peer_closed()
    }

    /// Sends a request and reads the answer.
    pub fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        let timeout = match request {
            Request::Save { .. } | Request::Restore { .. } => ANSWER_TIMEOUT,
            Request::Hello { .. }
            | Request::Proof(_)
            | Request::Interrupt
            | Request::Resume
            | Request::Info
            | Request::Hold { .. }
            | Request::Commit { .. }
            | Request::Outcome { .. }
            | Request::Settle { .. }
            | Request::Stop { .. } => PROMPT_TIMEOUT,
        };
        let _ = self.stream.tcp().set_read_timeout(Some(timeout));
        request
            .write(&mut self.stream)
            .map_err(|error| self.frame_error(FrameError::Io(error), timeout))?;
        match Response::read(&mut self.stream).map_err(|error| self.frame_error(error, timeout))? {
            Response::Error(message) => Err(ClientError::Refused(message)),
            response => Ok(response),
        }
    }

    /// What a failed read or write means: no answer within `timeout`, or a broken connection.
    fn frame_error(&self, source: FrameError, timeout: Duration) -> ClientError {
        match source {
            FrameError::Io(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                ClientError::NoAnswer {
                    addr: self.addr,
                    after: timeout,
                }
            }
            source => ClientError::Frame {
                addr: self.addr,
                source,
            },
        }
    }

    fn expect_ok(&mut self, request: &Request) -> Result<(), ClientError> {
        match self.request(request)? {
            Response::Ok => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    fn unexpected(&self, answer: &Response) -> ClientError {
        let answer = match answer {
            Response::Ok => String::from("ok"),
            Response::Error(message) => format!("error: {message}"),
            Response::Image(bytes) => format!("an image of {} bytes", bytes.len()),
            Response::Info(json) => format!("info {json}"),
            Response::Outcome(outcome) => format!("outcome {outcome:?}"),
            Response::Challenge { .. } => String::from("a handshake challenge"),
        };
        ClientError::Unexpected {
            addr: self.addr,
            answer,
        }
    }

    /// Pauses the VM at an instruction boundary, its output flushed.
    pub fn interrupt(&mut self) -> Result<(), ClientError> {
        self.expect_ok(&Request::Interrupt)
    }

    /// Runs the VM again (and commits the image this client restored).
    pub fn resume(&mut self) -> Result<(), ClientError> {
        self.expect_ok(&Request::Resume)
    }

    /// Pauses the VM and returns its state image.
    pub fn save(&mut self, with_program: bool) -> Result<Vec<u8>, ClientError> {
        match self.request(&Request::Save { with_program })? {
            Response::Image(image) => Ok(image),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Loads an image, arriving in `migration`, into the VM, which stays paused until
    /// [`commit`](Self::commit) (or [`resume`](Self::resume)).
    pub fn restore(&mut self, migration: MigrationId, image: Vec<u8>) -> Result<(), ClientError> {
        self.expect_ok(&Request::Restore { migration, image })
    }

    /// Commits the state this client restored in `migration`, running it or keeping it paused.
    pub fn commit(&mut self, migration: MigrationId, run: bool) -> Result<(), ClientError> {
        self.expect_ok(&Request::Commit { migration, run })
    }

    /// What the VM knows of `migration` as its target (with `abort`, a pending state of it is
    /// dropped first, making the answer final).
    pub fn outcome(
        &mut self,
        migration: MigrationId,
        abort: bool,
    ) -> Result<MigrationOutcome, ClientError> {
        match self.request(&Request::Outcome { migration, abort })? {
            Response::Outcome(outcome) => Ok(outcome),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Tells a source in doubt how `migration` ended.
    pub fn settle(&mut self, migration: MigrationId, committed: bool) -> Result<(), ClientError> {
        self.expect_ok(&Request::Settle {
            migration,
            committed,
        })
    }

    /// The VM's description.
    pub fn info(&mut self) -> Result<VmInfo, ClientError> {
        match self.request(&Request::Info)? {
            Response::Info(json) => VmInfo::decode(&json).map_err(|source| ClientError::BadInfo {
                addr: self.addr,
                source,
            }),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Hands the VM's state off to `migration` (into the VM `to_pid`, 0 if not local, at
    /// `to_addr`): it stays paused, in doubt, until the migration is settled.
    pub fn hold(
        &mut self,
        migration: MigrationId,
        to_pid: u32,
        to_addr: &str,
    ) -> Result<(), ClientError> {
        self.expect_ok(&Request::Hold {
            migration,
            to_pid,
            to_addr: to_addr.to_owned(),
        })
    }

    /// Stops the VM, telling it why.
    pub fn stop(&mut self, reason: &str) -> Result<(), ClientError> {
        self.expect_ok(&Request::Stop {
            reason: reason.to_owned(),
        })
    }
}
