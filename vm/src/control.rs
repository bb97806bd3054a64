//! The control channel's listener: a thread that accepts clients on a TCP socket, makes each prove
//! it holds the VM's token, then forwards its requests to the interpreter's thread
//! ([`session`](crate::session)) and writes back the answers.
//!
//! A client that fails the handshake, sends a malformed or oversized frame, or stalls past a
//! timeout is logged on standard error and dropped; the program keeps running.
//!
//! Connections in their handshake and authenticated clients are counted apart: at most
//! [`MAX_HANDSHAKES`] of the first, at most [`MAX_CLIENTS`] of the second. Clients without the token
//! therefore never take an authenticated client's place, and since a new connection displaces the
//! handshake that has waited longest, slow handshakes cannot keep a client with the token out.

use crate::interrupt::Interrupt;
use crate::protocol::{
    FrameError, MAX_FRAME, MAX_HELLO_FRAME, PROTOCOL_VERSION, Request, Response, tokens_match,
};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a new client has to complete the handshake: from its connection being accepted to its
/// hello being checked, however the bytes arrive.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an authenticated client may stay silent before it is dropped, unless `mova
/// --idle-timeout` says otherwise (a hypervisor shell keeps its connection between commands).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long writing an answer may take before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most authenticated clients connected at once; a connection beyond that is refused at once,
/// and a handshake that completes while they are all taken is refused.
pub const MAX_CLIENTS: usize = 16;

/// The most connections in their handshake at once. A new connection beyond that displaces the one
/// that has been in its handshake longest (a real client sends its hello at once, and is through
/// in a fraction of a millisecond).
pub const MAX_HANDSHAKES: usize = 8;

/// Identifies a connection, so that the session can drop a restore whose client went away.
pub type ConnId = u64;

/// What the listener hands the interpreter's thread.
#[derive(Debug)]
pub enum Command {
    /// A request from an authenticated client, with where to send the answer and a way to learn
    /// that the answer was written (a `Stop` waits for that before the process exits).
    Request {
        /// The request.
        request: Request,
        /// The connection it came on.
        conn: ConnId,
        /// Where the answer goes.
        reply: Sender<Response>,
        /// Signalled once the answer is on the wire.
        written: mpsc::Receiver<()>,
    },
    /// A connection closed.
    Disconnected(ConnId),
    /// A signal asked the process to stop.
    Signal(i32),
}

/// Binds the control socket.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Starts accepting clients on `listener`; each request goes to `commands`, and `interrupt` makes
/// a running VM pause to serve it. A client silent for `idle_timeout` is dropped.
pub fn spawn(
    listener: TcpListener,
    token: Vec<u8>,
    commands: Sender<Command>,
    interrupt: Interrupt,
    idle_timeout: Duration,
) -> io::Result<()> {
    let token = Arc::new(token);
    let slots = Arc::new(Slots::default());
    thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let mut next_id: ConnId = 0;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let accepted = Instant::now();
                next_id += 1;
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| String::from("unknown peer"), |addr| addr.to_string());
                if slots.clients.load(Ordering::SeqCst) >= MAX_CLIENTS {
                    refuse(stream, &peer, TOO_MANY);
                    continue;
                }
                if let Err(error) = slots.begin_handshake(next_id, &stream) {
                    refuse(stream, &peer, &format!("cannot serve it: {error}"));
                    continue;
                }
                let connection = Connection {
                    id: next_id,
                    accepted,
                    idle_timeout,
                    peer: peer.clone(),
                    token: Arc::clone(&token),
                    commands: commands.clone(),
                    interrupt: interrupt.clone(),
                    slots: Arc::clone(&slots),
                };
                let spawned = thread::Builder::new()
                    .name(format!("control-{next_id}"))
                    .spawn(move || connection.serve(stream));
                if spawned.is_err() {
                    slots.end_handshake(next_id);
                    log(&peer, "refused: cannot start a thread for it");
                }
            }
        })?;
    Ok(())
}

/// Why a client is refused when every authenticated client's place is taken.
const TOO_MANY: &str = "too many connections";

/// Answers `stream` with an Error saying `reason` and closes it.
fn refuse(mut stream: TcpStream, peer: &str, reason: &str) {
    log(peer, &format!("refused: {reason}"));
    // A fresh connection's send buffer is empty: the short answer never waits.
    let _ = stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
    let _ = Response::Error(reason.into()).write(&mut stream);
}

/// The places connections take: the authenticated clients, and the connections in their handshake
/// (each with a handle through which a newer connection can cut it short).
#[derive(Debug, Default)]
struct Slots {
    clients: AtomicUsize,
    handshakes: Mutex<VecDeque<(ConnId, TcpStream)>>,
}

impl Slots {
    /// Counts `stream` as in its handshake, displacing the oldest handshake if there are already
    /// [`MAX_HANDSHAKES`]: shutting down its reading side ends its wait for bytes at once.
    fn begin_handshake(&self, id: ConnId, stream: &TcpStream) -> io::Result<()> {
        let handle = stream.try_clone()?;
        let mut handshakes = self
            .handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while handshakes.len() >= MAX_HANDSHAKES {
            let Some((_, oldest)) = handshakes.pop_front() else {
                break;
            };
            let _ = oldest.shutdown(Shutdown::Read);
        }
        handshakes.push_back((id, handle));
        Ok(())
    }

    /// Ends connection `id`'s handshake; false if a newer connection displaced it.
    fn end_handshake(&self, id: ConnId) -> bool {
        let mut handshakes = self
            .handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found = handshakes.iter().position(|(each, _)| *each == id);
        found.and_then(|at| handshakes.remove(at)).is_some()
    }

    /// Takes an authenticated client's place, if one is free.
    fn admit(&self) -> bool {
        self.clients
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| {
                (count < MAX_CLIENTS).then_some(count + 1)
            })
            .is_ok()
    }

    /// Gives an authenticated client's place back.
    fn leave(&self) {
        self.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads from a stream until a deadline: each read may wait only for the time that is left, so a
/// client that sends a byte at a time cannot stretch the handshake.
struct Deadline<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}

fn timed_out(error: &FrameError) -> bool {
    matches!(error, FrameError::Io(error) if matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ))
}

/// Logs a problem with a client on standard error.
fn log(peer: &str, message: &str) {
    eprintln!("mova[{}]: control: {peer}: {message}", std::process::id());
}

struct Connection {
    id: ConnId,
    /// When the connection was accepted: the handshake's deadline counts from then.
    accepted: Instant,
    idle_timeout: Duration,
    peer: String,
    token: Arc<Vec<u8>>,
    commands: Sender<Command>,
    interrupt: Interrupt,
    slots: Arc<Slots>,
}

impl Connection {
    fn serve(self, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let checked = self.handshake(&stream);
        // Out of the handshakes whatever the outcome, and into the clients if it succeeded.
        let displaced = !self.slots.end_handshake(self.id);
        let outcome = match checked {
            Err(_) | Ok(()) if displaced => Err(format!(
                "bad handshake: displaced by a newer connection (at most {MAX_HANDSHAKES} \
                 connections may be in their handshake at once)"
            )),
            Err(reason) => Err(reason),
            Ok(()) if !self.slots.admit() => Err(TOO_MANY.into()),
            Ok(()) => Response::Ok.write(&mut stream).map_err(|error| {
                self.slots.leave();
                format!("cannot answer the handshake: {error}")
            }),
        };
        if let Err(reason) = outcome {
            log(&self.peer, &format!("dropped: {reason}"));
            let _ = Response::Error(reason).write(&mut stream);
            return;
        }
        self.serve_requests(&mut stream);
        self.slots.leave();
        let _ = self.commands.send(Command::Disconnected(self.id));
    }

    /// Serves an authenticated client until it leaves or is dropped.
    fn serve_requests(&self, stream: &mut TcpStream) {
        let _ = stream.set_read_timeout(Some(self.idle_timeout));
        loop {
            let request = match Request::read(stream, MAX_FRAME) {
                Ok(Request::Hello { .. }) => {
                    let _ = Response::Error("already authenticated".into()).write(stream);
                    continue;
                }
                Ok(request) => request,
                Err(FrameError::Closed) => break,
                Err(error) if timed_out(&error) => {
                    let reason = format!(
                        "dropped: silent for {} s (the idle timeout)",
                        self.idle_timeout.as_secs()
                    );
                    log(&self.peer, &reason);
                    let _ = Response::Error(reason).write(stream);
                    break;
                }
                Err(error) => {
                    log(&self.peer, &format!("dropped: {error}"));
                    let _ = Response::Error(error.to_string()).write(stream);
                    break;
                }
            };
            let (reply, answer) = mpsc::channel();
            let (written_tx, written) = mpsc::channel();
            let command = Command::Request {
                request,
                conn: self.id,
                reply,
                written,
            };
            if self.commands.send(command).is_err() {
                break; // The VM is exiting.
            }
            self.interrupt.request();
            let Ok(response) = answer.recv() else { break };
            let result = response.write(stream);
            let _ = written_tx.send(());
            if result.is_err() {
                log(&self.peer, "dropped: cannot write the answer");
                break;
            }
        }
    }

    /// Reads the client's hello, within what is left of [`HANDSHAKE_TIMEOUT`] since the connection
    /// was accepted, and checks its version and token.
    fn handshake(&self, stream: &TcpStream) -> Result<(), String> {
        let mut reader = Deadline {
            stream,
            deadline: self.accepted + HANDSHAKE_TIMEOUT,
        };
        match Request::read(&mut reader, MAX_HELLO_FRAME) {
            Ok(Request::Hello { version, token }) => {
                if version != PROTOCOL_VERSION {
                    return Err(format!(
                        "protocol version {version} is not supported (this VM speaks {PROTOCOL_VERSION})"
                    ));
                }
                if !tokens_match(&token, &self.token) {
                    return Err("authentication failed: wrong token".into());
                }
                Ok(())
            }
            Ok(_) => Err("authentication required: the first frame must be a hello".into()),
            Err(error) if timed_out(&error) => Err(format!(
                "bad handshake: not completed within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            )),
            Err(error) => Err(format!("bad handshake: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;
    use std::net::Ipv4Addr;

    /// A connected pair of loopback sockets: (the server's side, the client's side).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    #[test]
    fn a_handshake_past_its_deadline_fails_however_the_bytes_trickle_in() {
        let (server, mut client) = pair();
        let trickle = thread::spawn(move || {
            // A frame header declaring 100 bytes, then the bytes, one at a time.
            let bytes = [0, 0, 0, 100].into_iter().chain([1; 16]);
            for byte in bytes {
                if client.write_all(&[byte]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        let started = Instant::now();
        let mut reader = Deadline {
            stream: &server,
            deadline: started + Duration::from_millis(150),
        };
        let error = Request::read(&mut reader, MAX_HELLO_FRAME).unwrap_err();
        assert!(timed_out(&error), "{error:?}");
        // Each byte came well within any per-read timeout; the whole still had one deadline.
        assert!(started.elapsed() < Duration::from_millis(400));
        trickle.join().unwrap();
    }

    #[test]
    fn a_new_handshake_displaces_the_oldest_and_clients_are_counted_apart() {
        let slots = Slots::default();
        let streams: Vec<_> = (0..=MAX_HANDSHAKES).map(|_| pair()).collect();
        for (id, (server, _)) in (1..).zip(&streams) {
            slots.begin_handshake(id, server).unwrap();
        }
        // The first was displaced: its reading side is shut, so it sees the end at once.
        let mut buffer = [0u8; 1];
        let mut first = &streams[0].0;
        assert_eq!(first.read(&mut buffer).unwrap(), 0);
        assert!(!slots.end_handshake(1));
        for id in 2..=ConnId::try_from(MAX_HANDSHAKES).unwrap() + 1 {
            assert!(slots.end_handshake(id), "{id}");
        }

        for _ in 0..MAX_CLIENTS {
            assert!(slots.admit());
        }
        assert!(!slots.admit(), "one client more than the limit");
        slots.leave();
        assert!(slots.admit(), "a freed place is taken again");
    }
}
