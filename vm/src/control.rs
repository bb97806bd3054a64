//! The control channel: a thread that accepts clients on a TCP socket, makes each prove it holds
//! the VM's token, then forwards its requests to the interpreter's thread
//! ([`session`](crate::session)) and writes back the answers. The same thread watches the signals
//! that stop the VM ([`SignalWatch`]), polling the listening socket and the signal pipe together:
//! a VM starts one thread beside the interpreter's, and the others (one per connection, and the
//! pacer) only once a client connects.
//!
//! A client that fails the handshake, sends a malformed or oversized frame, or stalls past a
//! timeout is logged on standard error and dropped; the program keeps running.
//!
//! Connections waiting for their hello and authenticated clients are counted apart: at most
//! [`MAX_HANDSHAKES`] of the first, at most [`MAX_CLIENTS`] of the second. Clients without the token
//! therefore never take an authenticated client's place, and since a new connection displaces the
//! one that has waited longest (a hello that arrived whole is checked at once and never
//! displaced), slow handshakes cannot keep a client with the token out.
//!
//! No client can make the interpreter's thread wait or starve the program ([`Board`]): `Info` is
//! answered by the connection's own thread from a snapshot the session publishes, and the other
//! requests interrupt a running program only once it has run for as long as serving the previous
//! batch of requests took.

use crate::auth::{self, VmHandshakeError};
use crate::interrupt::Interrupt;
use crate::protocol::{FrameError, MAX_FRAME, MAX_HELLO_FRAME, Request, Response};
use crate::session::Snapshot;
use crate::tls::Stream;
use nix::errno::Errno;
use nix::libc::c_int;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use rustls::ServerConfig;
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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

/// The most connections waiting for their hello at once. A new connection beyond that displaces
/// the one that has waited longest; one whose hello has arrived whole when it is accepted does not
/// wait, and does not count (a real client sends its hello as soon as it is connected).
pub const MAX_HANDSHAKES: usize = 8;

/// How old a running VM's snapshot may be when an `Info` is answered from it; an older one is
/// refreshed first, which pauses the program once however many clients ask (so at most about ten
/// such pauses a second).
pub const INFO_MAX_AGE: Duration = Duration::from_millis(100);

/// How long an `Info` waits for a refresh before it is answered from the older snapshot (the
/// interpreter may be busy serving a long request, such as a large restore).
pub const INFO_REFRESH_WAIT: Duration = Duration::from_secs(1);

/// What a request that reaches a VM as it exits is answered.
const EXITING: &str = "this VM is exiting";

/// Identifies a connection, so that the session can drop a restore whose client went away.
pub type ConnId = u64;

/// What reaches the interpreter's thread from outside it: a client's request (from the listener),
/// a connection closing, or a signal (from `mova`'s signal watcher).
#[derive(Debug)]
pub enum Event {
    /// A request from an authenticated client, with where to send the answer and a way to learn
    /// that the answer was written (the VM does not exit before its answers are).
    Request {
        request: Request,
        /// The connection it came on.
        conn: ConnId,
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

/// The signals the control thread watches beside the listener, and what it does with each: the
/// signal handlers only write a byte to a socket pair (see `signal_hook`'s self-pipe), and the
/// control thread, which polls that socket and the listener together, calls `on_signal` with the
/// numbers that arrived.
pub struct SignalWatch {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
    on_signal: Box<dyn FnMut(c_int) + Send>,
}

impl std::fmt::Debug for SignalWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWatch")
            .field("pipe", self.delivery.get_read())
            .finish_non_exhaustive()
    }
}

impl SignalWatch {
    /// Installs handlers for `signals` at once: a signal that arrives before the control thread
    /// polls waits in the pipe. `on_signal` runs on the control thread, never in a handler.
    pub fn new(
        signals: &[c_int],
        on_signal: impl FnMut(c_int) + Send + 'static,
    ) -> io::Result<SignalWatch> {
        let (read, write) = UnixStream::pair()?;
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, signals)?;
        Ok(SignalWatch {
            delivery,
            on_signal: Box::new(on_signal),
        })
    }

    /// Hands every signal that arrived since the last call to `on_signal`; never blocks.
    fn deliver(&mut self) {
        for number in self.delivery.pending() {
            (self.on_signal)(number);
        }
    }
}

/// Starts the control thread: it accepts clients on `listener`, speaking TLS with `tls` when given,
/// and watches `signals`. Each request goes to `events`, and `board` says when a running VM may be
/// interrupted to serve it and holds the snapshot `Info` is answered from. A client silent for
/// `idle_timeout` is dropped.
///
/// One thread does both jobs, polling the listening socket and the signal pipe together, so that a
/// VM starts only one thread beside the interpreter's; the pacer ([`Board`]) starts with the first
/// connection, since until a client connects there is nothing to pace.
pub fn spawn(
    listener: TcpListener,
    token: Vec<u8>,
    tls: Option<Arc<ServerConfig>>,
    events: Sender<Event>,
    board: Arc<Board>,
    idle_timeout: Duration,
    mut signals: SignalWatch,
) -> io::Result<()> {
    // Accepting only when the poll says a connection waits, and never blocking in accept: a
    // connection that is gone by then must not keep the thread from the signals.
    listener.set_nonblocking(true)?;
    let mut acceptor = Acceptor {
        next_id: 0,
        pacing: false,
        idle_timeout,
        token: Arc::new(token),
        tls,
        events,
        board,
        slots: Arc::new(Slots::default()),
    };
    thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            loop {
                let (connections, signalled) = match wait(&listener, &signals) {
                    Ok(ready) => ready,
                    Err(Errno::EINTR) => continue,
                    Err(_) => {
                        // Polling two valid descriptors fails only if the kernel is short of
                        // memory: wait a little rather than spin, then try again.
                        thread::sleep(RETRY_PAUSE);
                        continue;
                    }
                };
                if signalled {
                    signals.deliver();
                }
                if connections {
                    acceptor.accept_waiting(&listener);
                }
            }
        })?;
    Ok(())
}

/// How long the control thread waits before polling again after the system refused it something
/// (a descriptor for a new connection, say), so that it never spins.
const RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Waits until a connection waits on `listener` or a signal arrived: (connections, signals).
fn wait(listener: &TcpListener, signals: &SignalWatch) -> Result<(bool, bool), Errno> {
    let mut fds = [
        PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        PollFd::new(signals.delivery.get_read().as_fd(), PollFlags::POLLIN),
    ];
    poll(&mut fds, PollTimeout::NONE)?;
    let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|events| !events.is_empty());
    Ok((ready(&fds[0]), ready(&fds[1])))
}

/// The control thread's side of accepting: what each new connection is given.
struct Acceptor {
    next_id: ConnId,
    /// Whether the pacer thread runs.
    pacing: bool,
    idle_timeout: Duration,
    token: Arc<Vec<u8>>,
    tls: Option<Arc<ServerConfig>>,
    events: Sender<Event>,
    board: Arc<Board>,
    slots: Arc<Slots>,
}

impl Acceptor {
    /// Accepts every connection waiting on the (non-blocking) `listener`.
    fn accept_waiting(&mut self, listener: &TcpListener) {
        loop {
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, &peer.to_string()),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(_) => {
                    // Out of descriptors or memory: the connection waits in the backlog until
                    // the system has some again.
                    thread::sleep(RETRY_PAUSE);
                    return;
                }
            }
        }
    }

    /// Takes a just-accepted connection: refuses it if every client's place is taken, else gives
    /// it a thread of its own.
    fn admit(&mut self, stream: TcpStream, peer: &str) {
        let accepted = Instant::now();
        self.next_id += 1;
        let id = self.next_id;
        let tls = self.tls.is_some();
        // Accepted from a non-blocking listener, the connection blocks as a fresh socket does
        // (Linux does not pass the flag on); said again here so that its thread's reads wait.
        if let Err(error) = stream.set_nonblocking(false) {
            log(peer, &format!("refused: cannot serve it: {error}"));
            return;
        }
        if self.slots.clients.load(Ordering::SeqCst) >= MAX_CLIENTS {
            refuse(stream, peer, TOO_MANY, tls);
            return;
        }
        // Before the connection can ask anything: the session publishes snapshots from now on.
        self.board.watch();
        if !self.pacing {
            let pacer = Arc::clone(&self.board);
            let spawned = thread::Builder::new()
                .name("control-pacer".into())
                .spawn(move || pacer.pace());
            if spawned.is_err() {
                log(peer, "refused: cannot start the pacer's thread");
                return;
            }
            self.pacing = true;
        }
        // A hello that is there in full is checked at once, however many handshakes wait: only a
        // connection still waiting for bytes can be displaced.
        let waiting = !hello_arrived(&stream, tls);
        if waiting && let Err(error) = self.slots.begin_handshake(id, &stream) {
            refuse(stream, peer, &format!("cannot serve it: {error}"), tls);
            return;
        }
        let connection = Connection {
            id,
            accepted,
            displaceable: waiting,
            idle_timeout: self.idle_timeout,
            peer: peer.to_owned(),
            token: Arc::clone(&self.token),
            events: self.events.clone(),
            board: Arc::clone(&self.board),
            slots: Arc::clone(&self.slots),
            tls: self.tls.clone(),
        };
        let spawned = thread::Builder::new()
            .name(format!("control-{id}"))
            .spawn(move || connection.serve(stream));
        if spawned.is_err() {
            if waiting {
                self.slots.end_handshake(id);
            }
            log(peer, "refused: cannot start a thread for it");
        }
    }
}

/// Why a client is refused when every authenticated client's place is taken.
const TOO_MANY: &str = "too many connections";

/// Answers `stream` with an Error saying `reason` and closes it. A TLS client is only
/// disconnected: an answer would need a TLS session, which is the work refusing avoids.
fn refuse(mut stream: TcpStream, peer: &str, reason: &str, tls: bool) {
    log(peer, &format!("refused: {reason}"));
    if tls {
        return;
    }
    // A fresh connection's send buffer is empty: the short answer never waits.
    let _ = stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
    let _ = Response::Error(reason.into()).write(&mut stream);
}

/// Whether a whole first frame (a hello, if the client is a real one) has already arrived on a
/// just-accepted connection, or at least enough of one to refuse it: such a connection is through
/// its handshake as soon as its thread looks, and is never displaced. A real client sends its
/// hello as soon as it is connected, so under a flood of new connections it is usually complete
/// by the time the listener accepts it.
fn hello_arrived(stream: &TcpStream, tls: bool) -> bool {
    // A ClientHello is a few hundred bytes; a record is at most 16 KiB and five.
    let mut bytes = [0u8; 16_384 + 5];
    // Only the listener has the connection yet, so making it non-blocking for one look is safe.
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let peeked = stream.peek(&mut bytes);
    // Blocking again for the connection's thread. This does not fail on a socket that just took
    // the other setting; if it did, the thread's reads would fail and drop the client.
    let restored = stream.set_nonblocking(false);
    matches!((peeked, restored), (Ok(len), Ok(())) if if tls {
        record_arrived(&bytes[..len])
    } else {
        frame_arrived(&bytes[..len])
    })
}

/// Whether `bytes` hold a whole TLS record (a client's first, its ClientHello, on a TLS
/// listener), or a header no TLS client sends.
fn record_arrived(bytes: &[u8]) -> bool {
    let Some((header, rest)) = bytes.split_first_chunk::<5>() else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    header[0] != TLS_HANDSHAKE_RECORD || rest.len() >= len
}

/// Whether `bytes` (the start of what a client sent) hold a whole hello frame, or a header that
/// will be refused without reading more.
fn frame_arrived(bytes: &[u8]) -> bool {
    let Some((header, rest)) = bytes.split_first_chunk::<4>() else {
        return false;
    };
    let len = usize::try_from(u32::from_be_bytes(*header)).unwrap_or(usize::MAX);
    len == 0 || len > MAX_HELLO_FRAME || rest.len() >= len
}

/// The places connections take: the authenticated clients, and the connections waiting for a hello
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

fn timed_out(error: &FrameError) -> bool {
    matches!(error, FrameError::Io(error) if matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ))
}

/// What the interpreter's thread ([`Session`](crate::session::Session)) shares with the
/// connections besides the event queue, so that no client can make it wait or keep the program
/// from running:
///
/// - the **snapshot** that `Info` is answered from, published by the session after every request
///   it serves and every time the program stops running. A client that got an answer and then
///   asks for `Info` sees what its request did; a running VM's `ip` and `stack_depth` are at most
///   [`INFO_MAX_AGE`] old, refreshed (one pause, shared by every client asking) when older;
/// - the **pacing** of every other request: a connection *knocks* after queueing a request, and the
///   pacer thread interrupts the running program for it only once the program has run for as long
///   as serving the previous batch of requests took. Requests thus get at most about half of the
///   interpreter's time, however many clients send them, while a request to a VM that has been
///   running undisturbed (a migration's Save) is served at once, and one to a paused VM is served
///   without any interrupt.
#[derive(Debug)]
pub struct Board {
    interrupt: Interrupt,
    /// Whether a client ever connected: until then nobody can read a snapshot, and the session
    /// publishes none (making one hashes the program, which a VM that nobody watches never needs).
    watched: AtomicBool,
    posted: Mutex<Posted>,
    /// Signalled when a snapshot is published.
    refreshed: Condvar,
    pacing: Mutex<Pacing>,
    /// Signalled when a request knocks, a refresh is asked for, or the session starts or stops
    /// running the program.
    paced: Condvar,
}

#[derive(Debug)]
struct Posted {
    snapshot: Option<Arc<Snapshot>>,
    /// When it was published.
    at: Instant,
    /// Whether the program was running then (its `ip` and `stack_depth` move on).
    running: bool,
    /// How many snapshots were published, so that a waiter sees a new one.
    generation: u64,
}

#[derive(Debug)]
struct Pacing {
    /// How many requests knocked in all.
    knocks: u64,
    /// How many of those the session's current or last batch covers: the requests queued before
    /// it began to drain the queue.
    covered: u64,
    /// The last batch stopped at its limit with requests perhaps still queued.
    left_over: bool,
    /// An `Info` waits for a fresh snapshot of the running program.
    refresh: bool,
    /// The session is not running the program (it serves requests, or the VM is paused): there
    /// is nothing to interrupt.
    serving: bool,
    /// The program may not be interrupted for requests before then.
    not_before: Instant,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Board {
    /// A board that pauses the program through `interrupt`, with nothing published yet.
    pub fn new(interrupt: Interrupt) -> Board {
        let now = Instant::now();
        Board {
            interrupt,
            watched: AtomicBool::new(false),
            posted: Mutex::new(Posted {
                snapshot: None,
                at: now,
                running: false,
                generation: 0,
            }),
            refreshed: Condvar::new(),
            pacing: Mutex::new(Pacing {
                knocks: 0,
                covered: 0,
                left_over: false,
                refresh: false,
                serving: true,
                not_before: now,
            }),
            paced: Condvar::new(),
        }
    }

    /// The control thread: a client connected, so from now on the session publishes its
    /// snapshots. Until the first one is published, a connection's `Info` goes to the session,
    /// which answers it and publishes.
    pub fn watch(&self) {
        self.watched.store(true, Ordering::SeqCst);
    }

    /// The session: whether a client ever connected, and snapshots are worth publishing.
    pub fn watched(&self) -> bool {
        self.watched.load(Ordering::SeqCst)
    }

    /// The session: publishes what `Info` says now; `running` if the program runs on from here.
    pub fn publish(&self, snapshot: Snapshot, running: bool) {
        let mut posted = lock(&self.posted);
        posted.snapshot = Some(Arc::new(snapshot));
        posted.at = Instant::now();
        posted.running = running;
        posted.generation = posted.generation.wrapping_add(1);
        self.refreshed.notify_all();
    }

    /// The session: begins to drain the queue. Every request that knocked before is in it, and the
    /// snapshot published after the drain is as fresh as a refresh would make it.
    pub fn drain_begins(&self) {
        let mut pacing = lock(&self.pacing);
        pacing.covered = pacing.knocks;
        pacing.refresh = false;
        pacing.serving = true;
    }

    /// The session: runs the program again after serving for `served` (since the program last
    /// stopped running); `left_over` if the batch stopped at its limit. No request interrupts the
    /// program before it has run as long again.
    pub fn run_begins(&self, served: Duration, left_over: bool) {
        let mut pacing = lock(&self.pacing);
        let now = Instant::now();
        pacing.not_before = now.checked_add(served).unwrap_or(now);
        pacing.left_over |= left_over;
        pacing.serving = false;
        self.paced.notify_all();
    }

    /// A connection: a request was queued for the session.
    fn knock(&self) {
        let mut pacing = lock(&self.pacing);
        pacing.knocks += 1;
        self.paced.notify_all();
    }

    /// The pacer thread: interrupts the running program when a request or a refresh waits and the
    /// program has had its share of time. Runs for as long as the process.
    fn pace(&self) {
        let mut pacing = lock(&self.pacing);
        loop {
            let waiting = pacing.knocks > pacing.covered || pacing.left_over || pacing.refresh;
            if !waiting || pacing.serving {
                pacing = self
                    .paced
                    .wait(pacing)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let now = Instant::now();
            if now < pacing.not_before {
                let wait = pacing.not_before - now;
                pacing = self
                    .paced
                    .wait_timeout(pacing, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            // Once: the session's next drain covers everything that waits now.
            pacing.left_over = false;
            pacing.serving = true;
            self.interrupt.request();
        }
    }

    /// A connection: the snapshot to answer an `Info` from, refreshed first if the program runs and
    /// the snapshot is older than [`INFO_MAX_AGE`]; `None` before the session published one.
    pub(crate) fn snapshot(&self) -> Option<Arc<Snapshot>> {
        let mut posted = lock(&self.posted);
        if posted.snapshot.is_some() && posted.running && posted.at.elapsed() > INFO_MAX_AGE {
            let generation = posted.generation;
            {
                let mut pacing = lock(&self.pacing);
                pacing.refresh = true;
                self.paced.notify_all();
            }
            posted = self
                .refreshed
                .wait_timeout_while(posted, INFO_REFRESH_WAIT, |posted| {
                    posted.generation == generation
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        posted.snapshot.clone()
    }
}

/// Logs a problem with a client on standard error.
fn log(peer: &str, message: &str) {
    mova_compiler::report!("mova[{}]: control: {peer}: {message}", std::process::id());
}

struct Connection {
    id: ConnId,
    /// When the connection was accepted: the handshake's deadline counts from then.
    accepted: Instant,
    /// Whether it waited for its hello when accepted, and counts among the handshakes a newer
    /// connection can displace.
    displaceable: bool,
    idle_timeout: Duration,
    peer: String,
    token: Arc<Vec<u8>>,
    events: Sender<Event>,
    board: Arc<Board>,
    slots: Arc<Slots>,
    tls: Option<Arc<ServerConfig>>,
}

impl Connection {
    fn serve(self, tcp: TcpStream) {
        let _ = tcp.set_nodelay(true);
        let _ = tcp.set_write_timeout(Some(WRITE_TIMEOUT));
        if self.tls.is_some()
            && let Some(reason) = not_tls(&tcp, self.accepted + HANDSHAKE_TIMEOUT)
        {
            // Said in plain frames, which is what such a client reads.
            log(&self.peer, &format!("dropped: {reason}"));
            let mut tcp = tcp;
            let _ = Response::Error(reason).write(&mut tcp);
            return;
        }
        let mut stream = match Stream::accept(tcp, self.tls.as_ref()) {
            Ok(stream) => stream,
            Err(error) => {
                log(&self.peer, &format!("dropped: cannot start TLS: {error}"));
                return;
            }
        };
        let checked = self.handshake(&mut stream);
        let _ = stream.tcp().set_write_timeout(Some(WRITE_TIMEOUT));
        // Out of the handshakes whatever the outcome, and into the clients if it succeeded.
        let displaced = self.displaceable && !self.slots.end_handshake(self.id);
        let outcome = match checked {
            Err(_) | Ok(()) if displaced => Err(format!(
                "bad handshake: displaced by a newer connection (at most {MAX_HANDSHAKES} \
                 connections may wait for their hello at once)"
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
            stream.close();
            return;
        }
        self.serve_requests(&mut stream);
        stream.close();
        self.slots.leave();
        let _ = self.events.send(Event::Disconnected(self.id));
    }

    /// Serves an authenticated client until it leaves or is dropped.
    fn serve_requests(&self, stream: &mut Stream) {
        let _ = stream.tcp().set_read_timeout(Some(self.idle_timeout));
        loop {
            let request = match Request::read(stream, MAX_FRAME) {
                Ok(Request::Hello { .. } | Request::Proof(_)) => {
                    let _ = Response::Error("already authenticated".into()).write(stream);
                    continue;
                }
                Ok(Request::Info) => match self.board.snapshot() {
                    // Answered here, from the session's snapshot: the program is not disturbed.
                    Some(snapshot) => {
                        if Response::Info(snapshot.answer()).write(stream).is_err() {
                            log(&self.peer, "dropped: cannot write the answer");
                            break;
                        }
                        continue;
                    }
                    // The VM is starting and has published nothing yet: the session answers.
                    None => Request::Info,
                },
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
            let event = Event::Request {
                request,
                conn: self.id,
                reply,
                written,
            };
            if self.events.send(event).is_err() {
                // The VM is exiting: say so rather than leave the client to guess.
                let _ = Response::Error(EXITING.into()).write(stream);
                break;
            }
            self.board.knock();
            let Ok(response) = answer.recv() else {
                let _ = Response::Error(EXITING.into()).write(stream);
                break;
            };
            let result = response.write(stream);
            let _ = written_tx.send(());
            if result.is_err() {
                log(&self.peer, "dropped: cannot write the answer");
                break;
            }
        }
    }

    /// Runs the VM's side of the handshake — on a TLS listener the TLS handshake first, then
    /// [`auth::vm_handshake`] (the client's hello, the challenge, the client's proof) bound to the
    /// session — all within what is left of [`HANDSHAKE_TIMEOUT`] since the connection was
    /// accepted.
    fn handshake(&self, stream: &mut Stream) -> Result<(), String> {
        stream.set_deadline(Some(self.accepted + HANDSHAKE_TIMEOUT));
        let result = handshake(stream, &self.token);
        stream.set_deadline(None);
        result
    }
}

/// Why a client of a TLS listener is refused before TLS starts: its first byte, awaited until
/// `deadline`, does not begin a TLS handshake record (a client sending plain frames, such as an
/// old one, or someone stripping TLS). None when it does, or when nothing came in time (the TLS
/// handshake then reports that).
fn not_tls(tcp: &TcpStream, deadline: Instant) -> Option<String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
        return None;
    }
    let mut first = [0u8; 1];
    match tcp.peek(&mut first) {
        Ok(1) if first[0] != TLS_HANDSHAKE_RECORD => Some(String::from(
            "this VM's channel speaks TLS (it listens off the loopback) and the client sent \
             plain frames: connect with TLS, giving the VM's fingerprint (`movahv … --fingerprint \
             FINGERPRINT`, from its runtime record)",
        )),
        Ok(_) | Err(_) => None,
    }
}

/// The first byte of a TLS handshake record: what a TLS client sends first.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Both handshakes on `stream`, whose deadline is set, in the words the VM logs and answers.
fn handshake(stream: &mut Stream, token: &[u8]) -> Result<(), String> {
    let late = || {
        format!(
            "bad handshake: not completed within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        )
    };
    if let Err(error) = stream.handshake() {
        return Err(if timed_out(&FrameError::Io(error.kind().into())) {
            late()
        } else {
            format!("bad TLS handshake: {error}")
        });
    }
    let binding = stream
        .binding()
        .map_err(|error| format!("bad TLS handshake: {error}"))?;
    match auth::vm_handshake(stream, token, &binding) {
        Ok(()) => Ok(()),
        Err(VmHandshakeError::Frame(error)) if timed_out(&error) => Err(late()),
        Err(VmHandshakeError::Frame(error)) => Err(format!("bad handshake: {error}")),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Read, Write};
    use std::net::Ipv4Addr;

    /// A connected pair of loopback sockets: (the server's side, the client's side).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    /// A board with its pacer running, the interrupt it requests, and a snapshot (what a blank
    /// VM's session publishes).
    fn board() -> (Arc<Board>, Interrupt, Snapshot) {
        let interrupt = Interrupt::new();
        let board = Arc::new(Board::new(interrupt.clone()));
        board.watch();
        let pacer = Arc::clone(&board);
        // The pacer waits on the board for ever; the thread ends with the test process.
        thread::spawn(move || pacer.pace());
        let identity = crate::session::Identity {
            pid: 1,
            addr: "127.0.0.1:1".into(),
            program: "test".into(),
            started_ms: 0,
        };
        let (_, events) = mpsc::channel();
        let session = crate::session::Session::new(
            None,
            true,
            Interrupt::new(),
            events,
            Vec::new(),
            identity,
            Arc::clone(&board),
        );
        drop(session);
        let snapshot = Snapshot::clone(&board.snapshot().unwrap());
        (board, interrupt, snapshot)
    }

    /// Whether `interrupt` is requested within `within`.
    fn requested_within(interrupt: &Interrupt, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if interrupt.is_requested() {
                return true;
            }
            thread::sleep(Duration::from_millis(1));
        }
        interrupt.is_requested()
    }

    #[test]
    fn a_request_interrupts_the_program_only_once_it_ran_as_long_as_serving_took() {
        let (board, interrupt, _) = board();
        // While the session serves (or the VM is paused), a knock interrupts nothing.
        board.knock();
        assert!(!requested_within(&interrupt, Duration::from_millis(50)));

        // The program runs again after 300 ms of serving: the waiting request interrupts it after
        // 300 ms more, not before.
        let started = Instant::now();
        board.run_begins(Duration::from_millis(300), false);
        assert!(requested_within(&interrupt, Duration::from_secs(5)));
        assert!(started.elapsed() >= Duration::from_millis(300));

        // The session drains the queue; nothing else waits, so the program runs undisturbed.
        interrupt.clear();
        board.drain_begins();
        board.run_begins(Duration::ZERO, false);
        assert!(!requested_within(&interrupt, Duration::from_millis(50)));
        // A new request is served at once: the program had its share.
        board.knock();
        assert!(requested_within(&interrupt, Duration::from_secs(5)));

        // A batch cut short by its time limit asks for the next without a knock.
        interrupt.clear();
        board.drain_begins();
        board.run_begins(Duration::ZERO, true);
        assert!(requested_within(&interrupt, Duration::from_secs(5)));
    }

    #[test]
    fn an_old_snapshot_of_a_running_vm_is_refreshed_once_for_every_client_asking() {
        let (board, interrupt, snapshot) = board();
        board.publish(snapshot.clone(), true);
        board.drain_begins();
        board.run_begins(Duration::ZERO, false);
        // A fresh snapshot is answered as it is.
        assert!(board.snapshot().is_some());
        assert!(!interrupt.is_requested());

        thread::sleep(INFO_MAX_AGE + Duration::from_millis(20));
        let askers: Vec<_> = (0..4)
            .map(|_| {
                let board = Arc::clone(&board);
                thread::spawn(move || {
                    let asked = Instant::now();
                    board.snapshot().unwrap();
                    asked.elapsed()
                })
            })
            .collect();
        // One pause for all of them: the session publishes once.
        assert!(requested_within(&interrupt, Duration::from_secs(5)));
        board.drain_begins();
        board.publish(snapshot.clone(), true);
        for asker in askers {
            assert!(asker.join().unwrap() < INFO_REFRESH_WAIT);
        }

        // A paused VM's snapshot is exact however old: no pause.
        interrupt.clear();
        board.publish(snapshot, false);
        thread::sleep(INFO_MAX_AGE + Duration::from_millis(20));
        assert!(board.snapshot().is_some());
        assert!(!requested_within(&interrupt, Duration::from_millis(50)));
    }

    #[test]
    fn one_thread_accepts_clients_and_delivers_signals_however_they_interleave() {
        use nix::sys::signal::{Signal, raise};
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let (signalled_tx, signalled) = mpsc::channel();
        // SIGUSR1: no other test of this process uses it.
        let watch = SignalWatch::new(&[Signal::SIGUSR1 as c_int], move |number| {
            let _ = signalled_tx.send(number);
        })
        .unwrap();
        // Raised before the thread starts: it waits in the pipe.
        raise(Signal::SIGUSR1).unwrap();
        let (events, _receiver) = mpsc::channel();
        let (board, _, _) = board();
        spawn(
            listener,
            vec![7; 32],
            None,
            events,
            board,
            Duration::from_secs(5),
            watch,
        )
        .unwrap();
        let within = Duration::from_secs(5);
        assert_eq!(signalled.recv_timeout(within), Ok(Signal::SIGUSR1 as c_int));

        for _ in 0..2 {
            // A client is served: an empty frame is refused with an Error, and the connection closed.
            let mut client = TcpStream::connect(addr).unwrap();
            client.set_read_timeout(Some(within)).unwrap();
            client.write_all(&[0, 0, 0, 0]).unwrap();
            assert!(matches!(
                Response::read(&mut client),
                Ok(Response::Error(_))
            ));
            // And a signal after it is still delivered.
            raise(Signal::SIGUSR1).unwrap();
            assert_eq!(signalled.recv_timeout(within), Ok(Signal::SIGUSR1 as c_int));
        }
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
        let mut reader = Stream::accept(server, None).unwrap();
        reader.set_deadline(Some(started + Duration::from_millis(150)));
        let error = Request::read(&mut reader, MAX_HELLO_FRAME).unwrap_err();
        assert!(timed_out(&error), "{error:?}");
        // Each byte came well within any per-read timeout; the whole still had one deadline.
        assert!(started.elapsed() < Duration::from_millis(400));
        trickle.join().unwrap();
    }

    #[test]
    fn a_hello_that_arrived_whole_is_told_from_one_still_coming() {
        let mut hello = Vec::new();
        Request::Hello {
            version: crate::protocol::PROTOCOL_VERSION,
            nonce: vec![7; crate::auth::NONCE_LEN],
        }
        .write(&mut hello)
        .unwrap();
        assert!(frame_arrived(&hello));
        for len in 0..hello.len() {
            assert!(!frame_arrived(&hello[..len]), "{len} bytes");
        }
        // Headers that are refused without reading on count as arrived: nothing to wait for.
        assert!(frame_arrived(&[0, 0, 0, 0]));
        assert!(frame_arrived(&[0, 0, 1, 1]));
        assert!(!frame_arrived(&[0, 0, 1, 0]));

        // On a real connection, whatever the client has sent is looked at without being taken.
        let (server, mut client) = pair();
        assert!(!hello_arrived(&server, false));
        client.write_all(&hello[..10]).unwrap();
        client.flush().unwrap();
        thread::sleep(Duration::from_millis(20));
        assert!(!hello_arrived(&server, false));
        client.write_all(&hello[10..]).unwrap();
        thread::sleep(Duration::from_millis(20));
        assert!(hello_arrived(&server, false));
        let mut reader = Stream::accept(server, None).unwrap();
        reader.set_deadline(Some(Instant::now() + Duration::from_secs(5)));
        assert!(matches!(
            Request::read(&mut reader, MAX_HELLO_FRAME).unwrap(),
            Request::Hello { .. }
        ));
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
