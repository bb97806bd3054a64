//! The control channel's listener: a thread that accepts clients on a TCP socket, makes each prove
//! it holds the VM's token, then forwards its requests to the interpreter's thread
//! ([`session`](crate::session)) and writes back the answers.
//!
//! A client that fails the handshake, sends a malformed or oversized frame, or stalls past a
//! timeout is logged on standard error and dropped; the program keeps running.

use crate::interrupt::Interrupt;
use crate::protocol::{
    FrameError, MAX_FRAME, MAX_HELLO_FRAME, PROTOCOL_VERSION, Request, Response, tokens_match,
};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

/// How long a new client has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an authenticated client may stay silent before it is dropped, unless `mova
/// --idle-timeout` says otherwise (a hypervisor shell keeps its connection between commands).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long writing an answer may take before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most clients connected at once; more are refused at once.
pub const MAX_CONNECTIONS: usize = 16;

/// What a request that reaches a VM as it exits is answered.
const EXITING: &str = "this VM is exiting";

/// Identifies a connection, so that the session can drop a restore whose client went away.
pub type ConnId = u64;

/// What the listener hands the interpreter's thread.
#[derive(Debug)]
pub enum Command {
    /// A request from an authenticated client, with where to send the answer and a way to learn
    /// that the answer was written (the VM does not exit before its answers are).
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
    let active = Arc::new(AtomicUsize::new(0));
    thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let mut next_id: ConnId = 0;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                next_id += 1;
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| String::from("unknown peer"), |addr| addr.to_string());
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    log(&peer, "refused: too many connections");
                    let mut stream = stream;
                    let _ = stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
                    let _ = Response::Error("too many connections".into()).write(&mut stream);
                    continue;
                }
                let connection = Connection {
                    id: next_id,
                    idle_timeout,
                    peer: peer.clone(),
                    token: Arc::clone(&token),
                    commands: commands.clone(),
                    interrupt: interrupt.clone(),
                };
                let active = Arc::clone(&active);
                let spawned = thread::Builder::new()
                    .name(format!("control-{next_id}"))
                    .spawn(move || {
                        connection.serve(stream);
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    log(&peer, "refused: cannot start a thread for it");
                }
            }
        })?;
    Ok(())
}

/// Logs a problem with a client on standard error.
fn log(peer: &str, message: &str) {
    eprintln!("mova[{}]: control: {peer}: {message}", std::process::id());
}

struct Connection {
    id: ConnId,
    idle_timeout: Duration,
    peer: String,
    token: Arc<Vec<u8>>,
    commands: Sender<Command>,
    interrupt: Interrupt,
}

impl Connection {
    fn serve(self, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        if let Err(reason) = self.handshake(&mut stream) {
            log(&self.peer, &format!("dropped: {reason}"));
            let _ = Response::Error(reason).write(&mut stream);
            return;
        }
        let _ = stream.set_read_timeout(Some(self.idle_timeout));
        loop {
            let request = match Request::read(&mut stream, MAX_FRAME) {
                Ok(Request::Hello { .. }) => {
                    let _ = Response::Error("already authenticated".into()).write(&mut stream);
                    continue;
                }
                Ok(request) => request,
                Err(FrameError::Closed) => break,
                Err(FrameError::Io(error))
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let reason = format!(
                        "dropped: silent for {} s (the idle timeout)",
                        self.idle_timeout.as_secs()
                    );
                    log(&self.peer, &reason);
                    let _ = Response::Error(reason).write(&mut stream);
                    break;
                }
                Err(error) => {
                    log(&self.peer, &format!("dropped: {error}"));
                    let _ = Response::Error(error.to_string()).write(&mut stream);
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
                // The VM is exiting: say so rather than leave the client to guess.
                let _ = Response::Error(EXITING.into()).write(&mut stream);
                break;
            }
            self.interrupt.request();
            let Ok(response) = answer.recv() else {
                let _ = Response::Error(EXITING.into()).write(&mut stream);
                break;
            };
            let result = response.write(&mut stream);
            let _ = written_tx.send(());
            if result.is_err() {
                log(&self.peer, "dropped: cannot write the answer");
                break;
            }
        }
        let _ = self.commands.send(Command::Disconnected(self.id));
    }

    /// Reads the client's hello and checks its version and token.
    fn handshake(&self, stream: &mut TcpStream) -> Result<(), String> {
        let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        match Request::read(stream, MAX_HELLO_FRAME) {
            Ok(Request::Hello { version, token }) => {
                if version != PROTOCOL_VERSION {
                    return Err(format!(
                        "protocol version {version} is not supported (this VM speaks {PROTOCOL_VERSION})"
                    ));
                }
                if !tokens_match(&token, &self.token) {
                    return Err("authentication failed: wrong token".into());
                }
                Response::Ok
                    .write(stream)
                    .map_err(|error| format!("cannot answer the handshake: {error}"))
            }
            Ok(_) => Err("authentication required: the first frame must be a hello".into()),
            Err(error) => Err(format!("bad handshake: {error}")),
        }
    }
}
