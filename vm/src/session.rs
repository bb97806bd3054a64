//! A VM under control: the interpreter's thread runs the program and, between runs, serves the
//! requests the control channel forwards ([`control`](crate::control)) and the signals the process
//! receives.
//!
//! A request interrupts a running program; it is served at the instruction boundary where the
//! program paused (after its output was flushed), and the program then runs on unless the request
//! paused it.
//!
//! A `Save` or a `Restore` makes its client the VM's **holder** ([`Hold`]): until that client
//! resumes, interrupts or stops the VM, other clients may only ask for `Info`, so two migrations
//! of one VM cannot both take its state. If the holder disconnects first, the VM goes back to how
//! it was before the hold: a restored image is dropped, a saved VM runs on if it was running. A
//! half-finished migration therefore never runs a copy, and never leaves the source paused. A
//! `Hold` request makes the hold firm: then the VM stays paused when its holder disconnects.
//!
//! The session shares a [`Board`] with the connections: it publishes there what `Info` says after
//! every request it serves and whenever the program stops running, so that the connections answer
//! `Info` themselves, and it says there how long it served, so that requests interrupt the program
//! again only once it has run as long.

use crate::control::{Board, Command, ConnId};
use crate::interrupt::Interrupt;
use crate::machine::{Outcome, Trap, Vm};
use crate::protocol::{Request, Response};
use crate::runtime::now_ms;
use mova_lang::image::{Image, hash_hex, program_hash};
use mova_lang::mvb::Program;
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// How long the session goes on serving queued commands before the program runs again (it serves
/// at least one); those still queued wait until the program has run as long as they were served.
const SERVE_SLICE: Duration = Duration::from_millis(10);

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// The program halted.
    Halted,
    /// The program trapped.
    Trapped(Trap),
    /// A client stopped the VM.
    Stopped(String),
    /// A signal stopped the VM.
    Signal(i32),
    /// No client can reach the VM any more and it has nothing to run.
    Orphaned,
}

/// What the VM says about itself in `Info`.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The process id.
    pub pid: u32,
    /// The control channel's address.
    pub addr: String,
    /// What it was started with.
    pub program: String,
    /// When it started (Unix milliseconds).
    pub started_ms: u64,
}

/// A client's claim on the VM's state, taken by its `Save` or `Restore`.
struct Hold {
    conn: ConnId,
    /// Whether the program ran when the hold was taken.
    was_running: bool,
    /// Set when the holder restored an image: the VM it replaced, to go back to if the image is
    /// never committed.
    replaced: Option<Option<Vm>>,
    /// Taken firmly (`Hold`): the holder's disconnecting leaves the VM paused as it is.
    firm: bool,
}

/// What `Info` says about a VM at one moment: everything but the clock readings (`uptime_ms`,
/// `now_ms`), which are taken when an answer is made from it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// A JSON object.
    fields: Value,
    started: Instant,
}

impl Snapshot {
    /// The `Info` answer: the JSON object, with the clock read now.
    pub fn answer(&self) -> String {
        let mut info = self.fields.clone();
        info["uptime_ms"] = u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .into();
        info["now_ms"] = now_ms().into();
        info.to_string()
    }
}

/// Why a request from another client than the holder is refused.
const HELD: &str = "another client holds this VM (a save, restore or migration is in progress) \
                    until it resumes, interrupts or stops it, or disconnects";

/// The interpreter's side of a controlled VM.
pub struct Session<W: Write> {
    vm: Option<Vm>,
    running: bool,
    hold: Option<Hold>,
    interrupt: Interrupt,
    commands: Receiver<Command>,
    out: W,
    identity: Identity,
    started: Instant,
    /// How many restored images were committed.
    restores: u64,
    board: Arc<Board>,
    /// What `Info` says about the loaded program itself, worked out once per program (hashing a
    /// large one takes long) and forgotten whenever a command may have replaced it.
    program_facts: OnceCell<Map<String, Value>>,
}

impl<W: Write> std::fmt::Debug for Session<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("running", &self.running)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Session<W> {
    /// A session for `vm` (`None`: a blank VM waiting for an image that carries its program),
    /// running at once unless `paused`, publishing on `board`.
    pub fn new(
        vm: Option<Vm>,
        paused: bool,
        interrupt: Interrupt,
        commands: Receiver<Command>,
        out: W,
        identity: Identity,
        board: Arc<Board>,
    ) -> Self {
        let session = Session {
            running: !paused && vm.is_some(),
            vm,
            hold: None,
            interrupt,
            commands,
            out,
            identity,
            started: Instant::now(),
            restores: 0,
            board,
            program_facts: OnceCell::new(),
        };
        session.publish();
        session
    }

    /// Runs until the program ends or the VM is stopped; returns how, and the VM as it was.
    pub fn run(mut self) -> (End, Option<Vm>) {
        // Since when the program has not run: the time spent serving, which it then gets back.
        let mut serving_since = Instant::now();
        loop {
            // Clear before draining: a request sent after the drain interrupts the run below.
            self.interrupt.clear();
            self.board.drain_begins();
            let slice = Instant::now();
            let mut left_over = false;
            while let Ok(command) = self.commands.try_recv() {
                if let Some(end) = self.handle(command) {
                    return (end, self.vm);
                }
                if slice.elapsed() >= SERVE_SLICE {
                    left_over = true;
                    break;
                }
            }
            let runnable = self.runnable();
            if runnable {
                // The state the program runs on from: a refresh of `Info`'s snapshot.
                self.publish();
                self.board.run_begins(serving_since.elapsed(), left_over);
            }
            match (&mut self.vm, runnable) {
                (Some(vm), true) => {
                    let outcome = vm.run(&mut self.out, &self.interrupt);
                    serving_since = Instant::now();
                    match outcome {
                        Outcome::Halted => return (End::Halted, self.vm),
                        Outcome::Trapped(trap) => return (End::Trapped(trap), self.vm),
                        Outcome::Paused => {}
                    }
                }
                (Some(_) | None, _) => match self.commands.recv() {
                    Ok(command) => {
                        serving_since = Instant::now();
                        if let Some(end) = self.handle(command) {
                            return (end, self.vm);
                        }
                    }
                    Err(_) => return (End::Orphaned, self.vm),
                },
            }
        }
    }

    /// Whether the program runs when no request is being served.
    fn runnable(&self) -> bool {
        self.running && self.hold.is_none() && self.vm.is_some()
    }

    /// Publishes what `Info` says now on the board, for the connections to answer from.
    fn publish(&self) {
        self.board.publish(self.info(), self.runnable());
    }

    fn handle(&mut self, command: Command) -> Option<End> {
        // A restore, or a holder leaving, replaces the program: describe it afresh.
        self.program_facts = OnceCell::new();
        match command {
            Command::Signal(signal) => Some(End::Signal(signal)),
            Command::Disconnected(conn) => {
                if let Some(hold) = self.hold.as_ref().filter(|hold| hold.conn == conn) {
                    // The holder left without resuming, interrupting or stopping: go back, or
                    // stay paused if it held firmly.
                    if hold.firm {
                        self.release(true);
                        self.running = false;
                    } else {
                        self.release(false);
                    }
                }
                self.publish();
                None
            }
            Command::Request {
                request,
                conn,
                reply,
                written,
            } => {
                let stop = matches!(request, Request::Stop { .. });
                let (response, end) = self.serve(request, conn);
                // Before the answer: a client that asks for `Info` next sees what this did.
                self.publish();
                let _ = reply.send(response);
                if stop {
                    // Let the answer reach the client before the process exits.
                    let _ = written.recv_timeout(Duration::from_secs(2));
                }
                end
            }
        }
    }

    fn serve(&mut self, request: Request, conn: ConnId) -> (Response, Option<End>) {
        let held_by_other = self.hold.as_ref().is_some_and(|hold| hold.conn != conn);
        let response = match request {
            Request::Hello { .. } => Response::Error("already authenticated".into()),
            Request::Info => Response::Info(self.info().answer()),
            Request::Interrupt
            | Request::Resume
            | Request::Save { .. }
            | Request::Restore { .. }
            | Request::Hold
            | Request::Stop { .. }
                if held_by_other =>
            {
                Response::Error(HELD.into())
            }
            Request::Interrupt => {
                // Ends a hold keeping the VM paused (a restored image is committed, paused).
                self.release(true);
                self.running = false;
                Response::Ok
            }
            Request::Resume => {
                self.release(true);
                if self.vm.is_some() {
                    self.running = true;
                    Response::Ok
                } else {
                    Response::Error(
                        "no program is loaded: restore an image that carries one".into(),
                    )
                }
            }
            Request::Save { with_program } => match &self.vm {
                Some(vm) => match vm.save(with_program) {
                    Ok(image) => {
                        self.take_hold(conn);
                        self.running = false;
                        Response::Image(image.encode())
                    }
                    Err(error) => Response::Error(format!("cannot save: {error}")),
                },
                None => Response::Error("no program is loaded: there is no state to save".into()),
            },
            Request::Restore { image } => self.restore(&image, conn),
            Request::Hold => match self.vm {
                Some(_) => {
                    self.take_hold(conn);
                    if let Some(hold) = &mut self.hold {
                        hold.firm = true;
                    }
                    self.running = false;
                    Response::Ok
                }
                None => Response::Error("no program is loaded: there is nothing to hold".into()),
            },
            Request::Stop { reason } => return (Response::Ok, Some(End::Stopped(reason))),
        };
        (response, None)
    }

    /// Makes `conn` the holder, unless it already is (the hold keeps what it first recorded).
    fn take_hold(&mut self, conn: ConnId) {
        if self.hold.is_none() {
            self.hold = Some(Hold {
                conn,
                was_running: self.running,
                replaced: None,
                firm: false,
            });
        }
    }

    /// Ends the hold: `commit` keeps the VM's state as it is now; otherwise the VM goes back to
    /// the state, and running or paused, it had when the hold was taken.
    fn release(&mut self, commit: bool) {
        let Some(hold) = self.hold.take() else {
            return;
        };
        if commit {
            if hold.replaced.is_some() {
                self.restores += 1;
            }
            return;
        }
        if let Some(previous) = hold.replaced {
            self.vm = previous;
        }
        self.running = hold.was_running && self.vm.is_some();
    }

    /// Checks and loads an image, keeping the VM paused until a `Resume` commits it.
    fn restore(&mut self, bytes: &[u8], conn: ConnId) -> Response {
        let image = match Image::decode(bytes) {
            Ok(image) => image,
            Err(error) => return Response::Error(format!("refused the image: {error}")),
        };
        let program: Program = match (&self.vm, image.program()) {
            (Some(current), _) => current.program().clone(),
            (None, Some(embedded)) => embedded.clone(),
            (None, None) => {
                return Response::Error(
                    "refused the image: this VM has no program and the image does not carry one"
                        .into(),
                );
            }
        };
        let restored = match Vm::from_image(program, &image) {
            Ok(vm) => vm,
            Err(error) => return Response::Error(format!("refused the image: {error}")),
        };
        let previous = self.vm.replace(restored);
        self.take_hold(conn);
        if let Some(hold) = &mut self.hold
            && hold.replaced.is_none()
        {
            // The first image this holder restores: remember what it replaced. A later one
            // (restoring again before committing) keeps that original fallback.
            hold.replaced = Some(previous);
        }
        self.running = false;
        Response::Ok
    }

    /// What `Info` says now (the one place its fields are made).
    fn info(&self) -> Snapshot {
        let restored = self
            .hold
            .as_ref()
            .is_some_and(|hold| hold.replaced.is_some());
        let state = match (&self.vm, restored, self.running) {
            (None, _, _) => "waiting",
            (Some(_), true, _) => "restored",
            (Some(_), false, true) => "running",
            (Some(_), false, false) => "paused",
        };
        let mut info = serde_json::json!({
            "pid": self.identity.pid,
            "addr": self.identity.addr,
            "program": self.identity.program,
            "started_ms": self.identity.started_ms,
            "state": state,
            "held": self.hold.is_some(),
            "restores": self.restores,
        });
        if let Some(vm) = &self.vm {
            info["ip"] = vm.ip().into();
            info["stack_depth"] = vm.stack().len().into();
            let facts = self.program_facts.get_or_init(|| {
                let mut facts = Map::new();
                facts.insert("instructions".into(), vm.program().code().len().into());
                let hash = hash_hex(&program_hash(vm.program()));
                facts.insert("program_hash".into(), hash.into());
                if let Some(map) = vm.program().source_map() {
                    facts.insert("source".into(), map.file.into());
                }
                facts
            });
            for (key, value) in facts {
                info[key.as_str()] = value.clone();
            }
        }
        Snapshot {
            fields: info,
            started: self.started,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::wildcard_enum_match_arm)]
    use super::*;
    use std::sync::mpsc;

    const A: ConnId = 1;
    const B: ConnId = 2;

    fn program(start: i64) -> Vm {
        let source = format!("PUT {start}\ntop: ADD 1\nGOTO top");
        Vm::new(mova_compiler::assemble(&source).unwrap())
    }

    fn session(vm: Option<Vm>) -> Session<Vec<u8>> {
        // The sender is dropped: these tests drive `serve` and `handle` directly.
        let (_, commands) = mpsc::channel();
        let identity = Identity {
            pid: 1,
            addr: "127.0.0.1:1".into(),
            program: "test".into(),
            started_ms: 0,
        };
        let interrupt = Interrupt::new();
        let board = Arc::new(Board::new(interrupt.clone()));
        Session::new(vm, false, interrupt, commands, Vec::new(), identity, board)
    }

    fn ask(session: &mut Session<Vec<u8>>, conn: ConnId, request: Request) -> Response {
        session.serve(request, conn).0
    }

    fn refused(response: &Response) -> bool {
        matches!(response, Response::Error(reason) if reason == HELD)
    }

    fn image(session: &mut Session<Vec<u8>>, conn: ConnId) -> Vec<u8> {
        match ask(session, conn, Request::Save { with_program: true }) {
            Response::Image(image) => image,
            other => panic!("expected an image, got {other:?}"),
        }
    }

    fn info(session: &Session<Vec<u8>>) -> serde_json::Value {
        serde_json::from_str(&session.info().answer()).unwrap()
    }

    #[test]
    fn a_save_holds_the_vm_against_other_clients() {
        let mut s = session(Some(program(0)));
        image(&mut s, A);
        assert!(!s.running);
        for request in [
            Request::Save { with_program: true },
            Request::Interrupt,
            Request::Resume,
            Request::Hold,
            Request::Stop { reason: "x".into() },
            Request::Restore { image: Vec::new() },
        ] {
            assert!(refused(&ask(&mut s, B, request.clone())), "{request:?}");
        }
        assert!(matches!(ask(&mut s, B, Request::Info), Response::Info(_)));
        assert_eq!(info(&s)["held"], true);
        // The holder may save again, and its resume ends the hold.
        image(&mut s, A);
        assert_eq!(ask(&mut s, A, Request::Resume), Response::Ok);
        assert!(s.running && s.hold.is_none());
        assert_eq!(ask(&mut s, B, Request::Interrupt), Response::Ok);
    }

    #[test]
    fn a_saving_client_that_disconnects_gives_the_vm_back_running_or_paused() {
        let mut s = session(Some(program(0)));
        image(&mut s, A);
        s.handle(Command::Disconnected(B));
        assert!(s.hold.is_some(), "another client's leaving changes nothing");
        s.handle(Command::Disconnected(A));
        assert!(s.running && s.hold.is_none());

        assert_eq!(ask(&mut s, B, Request::Interrupt), Response::Ok);
        image(&mut s, A);
        s.handle(Command::Disconnected(A));
        assert!(
            !s.running && s.hold.is_none(),
            "it was paused before the save"
        );
    }

    #[test]
    fn interrupt_ends_a_hold_keeping_the_vm_paused() {
        let mut s = session(Some(program(0)));
        image(&mut s, A);
        assert_eq!(ask(&mut s, A, Request::Interrupt), Response::Ok);
        s.handle(Command::Disconnected(A));
        assert!(!s.running && s.hold.is_none());
    }

    #[test]
    fn a_firm_hold_leaves_the_vm_paused_when_its_client_leaves() {
        let mut s = session(Some(program(0)));
        image(&mut s, A);
        assert_eq!(ask(&mut s, A, Request::Hold), Response::Ok);
        assert!(refused(&ask(&mut s, B, Request::Resume)));
        s.handle(Command::Disconnected(A));
        assert!(!s.running && s.hold.is_none());
        assert_eq!(ask(&mut s, B, Request::Resume), Response::Ok);
        assert!(s.running);
        assert!(matches!(
            ask(&mut session(None), A, Request::Hold),
            Response::Error(_)
        ));
    }

    #[test]
    fn a_restored_image_is_committed_by_its_client_or_dropped_when_it_leaves() {
        let mut source = session(Some(program(7)));
        let bytes = image(&mut source, A);

        let mut blank = session(None);
        assert_eq!(
            ask(
                &mut blank,
                A,
                Request::Restore {
                    image: bytes.clone()
                }
            ),
            Response::Ok
        );
        assert_eq!(info(&blank)["state"], "restored");
        assert!(refused(&ask(
            &mut blank,
            B,
            Request::Save { with_program: true }
        )));
        assert!(refused(&ask(&mut blank, B, Request::Resume)));
        blank.handle(Command::Disconnected(A));
        assert!(blank.vm.is_none() && !blank.running, "dropped: blank again");
        assert_eq!(info(&blank)["restores"], 0);

        assert_eq!(
            ask(&mut blank, B, Request::Restore { image: bytes }),
            Response::Ok
        );
        assert_eq!(ask(&mut blank, B, Request::Resume), Response::Ok);
        assert!(blank.running && blank.hold.is_none());
        assert_eq!(info(&blank)["restores"], 1);
        blank.handle(Command::Disconnected(B));
        assert!(blank.running, "a committed image stays");
    }

    /// What the session last published for the connections to answer `Info` from.
    fn posted(session: &Session<Vec<u8>>) -> serde_json::Value {
        serde_json::from_str(&session.board.snapshot().unwrap().answer()).unwrap()
    }

    /// Hands `request` from `conn` to the session as the control channel does; returns the answer.
    fn command(session: &mut Session<Vec<u8>>, conn: ConnId, request: Request) -> Response {
        let (reply, answer) = mpsc::channel();
        let (_written, written) = mpsc::channel();
        let command = Command::Request {
            request,
            conn,
            reply,
            written,
        };
        assert!(session.handle(command).is_none());
        answer.try_recv().unwrap()
    }

    #[test]
    fn every_command_is_published_with_the_program_it_left() {
        let mut source = session(Some(program(7)));
        assert_eq!(
            posted(&source)["state"],
            "running",
            "published from the start"
        );
        assert_eq!(command(&mut source, A, Request::Interrupt), Response::Ok);
        assert_eq!(posted(&source)["state"], "paused");
        let Response::Image(bytes) = command(&mut source, A, Request::Save { with_program: true })
        else {
            panic!("expected an image");
        };
        let hash = posted(&source)["program_hash"].clone();
        assert_eq!(posted(&source)["held"], true);

        // A blank VM takes the image's program; its leaving client takes it away again.
        let mut blank = session(None);
        assert!(posted(&blank).get("program_hash").is_none());
        assert_eq!(
            command(&mut blank, A, Request::Restore { image: bytes }),
            Response::Ok
        );
        let restored = posted(&blank);
        assert_eq!(restored["state"], "restored");
        assert_eq!(restored["program_hash"], hash);
        assert!(blank.handle(Command::Disconnected(A)).is_none());
        let mut waiting = posted(&blank);
        assert_eq!(waiting["state"], "waiting");
        assert!(waiting.get("program_hash").is_none(), "{waiting}");
        // The board says what the session says, but for the clock readings.
        let mut now = info(&blank);
        for clock in ["uptime_ms", "now_ms"] {
            waiting.as_object_mut().unwrap().remove(clock).unwrap();
            now.as_object_mut().unwrap().remove(clock).unwrap();
        }
        assert_eq!(waiting, now);

        // Another program's image: the board describes that program, not the one before.
        let mut other = session(Some(program(8)));
        let bytes = image(&mut other, A);
        let other_hash = posted(&other)["program_hash"].clone();
        assert_ne!(other_hash, hash);
        assert_eq!(
            command(&mut blank, B, Request::Restore { image: bytes }),
            Response::Ok
        );
        assert_eq!(posted(&blank)["program_hash"], other_hash);
    }

    #[test]
    fn a_refused_image_takes_no_hold() {
        let mut s = session(Some(program(0)));
        let response = ask(
            &mut s,
            A,
            Request::Restore {
                image: vec![1, 2, 3],
            },
        );
        assert!(
            matches!(response, Response::Error(reason) if reason.starts_with("refused the image"))
        );
        assert!(s.hold.is_none() && s.running);
    }
}
