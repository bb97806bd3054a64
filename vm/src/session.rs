//! A VM under control: the interpreter's thread runs the program and, between runs, serves the
//! requests the control channel forwards ([`control`](crate::control)) and the signals the process
//! receives.
//!
//! A request interrupts a running program; it is served at the instruction boundary where the
//! program paused (after its output was flushed), and the program then runs on unless the request
//! paused it.
//!
//! A `Save` or a `Restore` makes its client the VM's **holder** ([`Hold`]): until that client
//! resumes, commits, interrupts or stops the VM, other clients may only ask for `Info`, so two
//! migrations of one VM cannot both take its state. If the holder disconnects first, the VM goes
//! back to how it was before the hold: a restored image is dropped, a saved VM runs on if it was
//! running. A half-finished migration therefore never runs a copy, and never leaves the source
//! paused.
//!
//! A `Hold` request hands the state off to a migration ([`Custody::InDoubt`]): the VM stays
//! paused, whatever happens to any connection, until someone who knows the migration's id tells
//! it how the migration ended (`Settle`) — superseded if the target took the state, its own again
//! if not. As a target, the VM remembers every migration it committed, so that it can answer
//! `Outcome` with certainty.
//!
//! The session shares a [`Board`] with the connections: it publishes there what `Info` says after
//! every request it serves and whenever the program stops running, so that the connections answer
//! `Info` themselves, and it says there how long it served, so that requests interrupt the program
//! again only once it has run as long.

use crate::control::{Board, ConnId, Event};
use crate::interrupt::Interrupt;
use crate::machine::{Outcome, Trap, Vm};
use crate::protocol::{
    Handoff, Loaded, MigrationId, MigrationOutcome, Request, Response, VmInfo, VmState,
};
use crate::runtime::now_ms;
use mova_lang::image::{Image, hash_hex, program_hash};
use mova_lang::mvb::Program;
use std::cell::OnceCell;
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// How long the session goes on serving queued requests before the program runs again (it serves
/// at least one); those still queued wait until the program has run as long as they were served.
const SERVE_SLICE: Duration = Duration::from_millis(10);

/// How long a VM that is exiting waits for the answers it gave to reach their clients.
const ANSWERS_DRAIN: Duration = Duration::from_secs(2);

/// How a session ended.
#[derive(Debug)]
pub enum End {
    Halted,
    Trapped(Trap),
    /// A client stopped the VM.
    Stopped(String),
    /// A signal stopped the VM.
    Signal(i32),
    /// No client can reach the VM any more and it has nothing to run.
    Orphaned,
}

impl End {
    /// What a client whose request arrives as the VM exits is told.
    fn farewell(&self) -> String {
        match self {
            End::Halted => String::from("this VM exited: its program halted"),
            End::Trapped(trap) => format!("this VM exited: its program trapped ({})", trap.kind),
            End::Stopped(reason) => format!("this VM stopped: {reason}"),
            End::Signal(number) => format!("this VM exited on signal {number}"),
            End::Orphaned => String::from("this VM exited: no client can reach it"),
        }
    }
}

/// What the VM says about itself in `Info`.
#[derive(Clone, Debug)]
pub struct Identity {
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
    /// The migration the restored image arrived in.
    migration: Option<MigrationId>,
}

/// Whose the computation is; a hand-off says where the VM's state went (`Hold`).
enum Custody {
    /// This VM's own (running, paused, or a blank VM's nothing).
    Own,
    /// Handed off to a migration whose outcome this VM has not been told: it stays paused and
    /// runs again only once the migration is settled as not taken.
    InDoubt(Handoff),
    /// The migration's target took it: this VM's copy is stale and can only be stopped.
    Superseded(Handoff),
}

/// What `Info` says about a VM at one moment: everything but the clock readings (`uptime_ms`,
/// `now_ms`), which are taken when an answer is made from it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Its clock readings are those of the moment it was taken, replaced in each answer.
    info: VmInfo,
    started: Instant,
}

impl Snapshot {
    /// The `Info` answer, with the clock read now.
    pub fn info(&self) -> VmInfo {
        VmInfo {
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            now_ms: now_ms(),
            ..self.info.clone()
        }
    }

    /// The `Info` answer as it is sent: [`info`](Self::info)'s JSON object.
    pub fn answer(&self) -> String {
        self.info().encode()
    }
}

/// What `Info` says about a loaded program itself, as opposed to where the VM is in it.
#[derive(Debug)]
struct ProgramFacts {
    instructions: u64,
    program_hash: String,
    source: Option<String>,
}

/// Why a request from another client than the holder is refused.
const HELD: &str = "another client holds this VM (a save, restore or migration is in progress) \
                    until it resumes, interrupts or stops it, or disconnects";

/// The interpreter's side of a controlled VM.
pub struct Session<W: Write> {
    vm: Option<Vm>,
    running: bool,
    hold: Option<Hold>,
    custody: Custody,
    /// The last migration settled here and how, so that settling it again is not an error.
    settled: Option<(MigrationId, bool)>,
    /// Every migration whose state this VM committed, as a target.
    committed: HashSet<MigrationId>,
    /// Answers sent to connections whose writing has not been confirmed yet: the VM does not exit
    /// before they are written.
    unwritten: Vec<Receiver<()>>,
    interrupt: Interrupt,
    events: Receiver<Event>,
    out: W,
    identity: Identity,
    started: Instant,
    /// How many restored images were committed.
    restores: u64,
    board: Arc<Board>,
    /// What `Info` says about the loaded program itself, worked out once per program (hashing a
    /// large one takes long) and forgotten whenever a command may have replaced it.
    program_facts: OnceCell<ProgramFacts>,
    /// The heap limit of the VMs restored from images here (`mova --max-heap`).
    max_heap: usize,
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
        events: Receiver<Event>,
        out: W,
        identity: Identity,
        board: Arc<Board>,
    ) -> Self {
        let session = Session {
            running: !paused && vm.is_some(),
            vm,
            hold: None,
            custody: Custody::Own,
            settled: None,
            committed: HashSet::new(),
            unwritten: Vec::new(),
            interrupt,
            events,
            out,
            identity,
            started: Instant::now(),
            restores: 0,
            board,
            program_facts: OnceCell::new(),
            max_heap: crate::heap::DEFAULT_MAX_HEAP,
        };
        session.publish();
        session
    }

    /// Restores images into VMs whose heap may hold up to `max_heap` bytes (an image whose heap
    /// is larger is refused).
    pub fn with_heap_limit(mut self, max_heap: usize) -> Self {
        self.max_heap = max_heap;
        self
    }

    /// Runs until the program ends or the VM is stopped; returns how, and the VM as it was. Every
    /// request that was made is answered, and the answer written, before this returns.
    pub fn run(mut self) -> (End, Option<Vm>) {
        let end = self.serve_and_run();
        self.finish(end)
    }

    fn serve_and_run(&mut self) -> End {
        // Since when the program has not run: the time spent serving, which it then gets back.
        let mut serving_since = Instant::now();
        loop {
            // Clear before draining: a request sent after the drain interrupts the run below.
            self.interrupt.clear();
            self.board.drain_begins();
            let slice = Instant::now();
            let mut left_over = false;
            while let Ok(event) = self.events.try_recv() {
                if let Some(end) = self.handle(event) {
                    return end;
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
                        Outcome::Halted => return End::Halted,
                        Outcome::Trapped(trap) => return End::Trapped(trap),
                        Outcome::Paused => {}
                    }
                }
                (Some(_) | None, _) => match self.events.recv() {
                    Ok(event) => {
                        serving_since = Instant::now();
                        if let Some(end) = self.handle(event) {
                            return end;
                        }
                    }
                    Err(_) => return End::Orphaned,
                },
            }
        }
    }

    /// Whether the program runs when no request is being served.
    fn runnable(&self) -> bool {
        self.running && self.hold.is_none() && self.vm.is_some() && self.owns_computation()
    }

    /// Publishes what `Info` says now on the board, for the connections to answer from.
    /// Publishes the snapshot `Info` is answered from, once a client has ever connected: before
    /// that nobody could read it (a connection that finds none asks this thread instead).
    fn publish(&self) {
        if self.board.watched() {
            self.board.publish(self.info(), self.runnable());
        }
    }

    /// Answers the requests still queued with why the VM is going, and waits (a bounded time)
    /// until every answer is written: a client is never left to guess whether its request took
    /// effect because the process exited first.
    fn finish(mut self, end: End) -> (End, Option<Vm>) {
        let farewell = end.farewell();
        while let Ok(event) = self.events.try_recv() {
            if let Event::Request { reply, written, .. } = event {
                let _ = reply.send(Response::Error(farewell.clone()));
                self.unwritten.push(written);
            }
        }
        let deadline = Instant::now() + ANSWERS_DRAIN;
        for written in self.unwritten.drain(..) {
            let _ = written.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        (end, self.vm)
    }

    fn owns_computation(&self) -> bool {
        matches!(self.custody, Custody::Own)
    }

    fn handle(&mut self, event: Event) -> Option<End> {
        // A restore, or a holder leaving, replaces the program: describe it afresh.
        self.program_facts = OnceCell::new();
        match event {
            Event::Signal(signal) => Some(End::Signal(signal)),
            Event::Disconnected(conn) => {
                if self.hold.as_ref().is_some_and(|hold| hold.conn == conn) {
                    // The holder left without resuming, interrupting or stopping: go back.
                    self.release(false);
                }
                self.publish();
                None
            }
            Event::Request {
                request,
                conn,
                reply,
                written,
            } => {
                let (response, end) = self.serve(request, conn);
                // Before the answer: a client that asks for `Info` next sees what this did.
                self.publish();
                let _ = reply.send(response);
                self.unwritten
                    .retain(|pending| matches!(pending.try_recv(), Err(TryRecvError::Empty)));
                self.unwritten.push(written);
                end
            }
        }
    }

    fn serve(&mut self, request: Request, conn: ConnId) -> (Response, Option<End>) {
        let held_by_other = self.hold.as_ref().is_some_and(|hold| hold.conn != conn);
        let response = match request {
            Request::Hello { .. } | Request::Proof(_) => {
                Response::Error("already authenticated".into())
            }
            Request::Info => Response::Info(self.info().answer()),
            Request::Outcome { migration, abort } => self.outcome(migration, abort),
            Request::Stop { reason } if !held_by_other || !self.owns_computation() => {
                // A VM whose state was handed off holds nothing another VM could lose by its
                // stopping, whoever asks.
                return (Response::Ok, Some(End::Stopped(reason)));
            }
            Request::Settle {
                migration,
                committed,
            } => self.settle(migration, committed),
            Request::Interrupt
            | Request::Resume
            | Request::Save { .. }
            | Request::Restore { .. }
            | Request::Hold { .. }
            | Request::Commit { .. }
                if !self.owns_computation() =>
            {
                Response::Error(self.not_own())
            }
            Request::Interrupt
            | Request::Resume
            | Request::Save { .. }
            | Request::Restore { .. }
            | Request::Hold { .. }
            | Request::Commit { .. }
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
            Request::Restore { migration, image } => self.restore(&image, migration, conn),
            Request::Hold {
                migration,
                to_pid,
                to_addr,
            } => match self.vm {
                Some(_) => {
                    // The state is handed off: whatever happens to this connection, the VM
                    // stays paused until the migration is settled.
                    self.release(true);
                    self.running = false;
                    self.custody = Custody::InDoubt(Handoff {
                        migration,
                        since_ms: now_ms(),
                        to_addr,
                        to_pid: (to_pid != 0).then_some(to_pid),
                    });
                    Response::Ok
                }
                None => Response::Error("no program is loaded: there is nothing to hold".into()),
            },
            Request::Commit { migration, run } => {
                let pending = self.hold.as_ref().is_some_and(|hold| {
                    hold.conn == conn
                        && hold.replaced.is_some()
                        && hold.migration == Some(migration)
                });
                if pending {
                    self.release(true);
                    self.running = run;
                    Response::Ok
                } else {
                    Response::Error(format!(
                        "migration {migration} is not pending here: this client restored no \
                         state in it, or that state was dropped"
                    ))
                }
            }
            Request::Stop { reason } => return (Response::Ok, Some(End::Stopped(reason))),
        };
        (response, None)
    }

    /// Why a VM that handed its state off refuses what would run, change or copy it.
    fn not_own(&self) -> String {
        let pid = self.identity.pid;
        match &self.custody {
            Custody::InDoubt(handoff) => format!(
                "this VM handed its state to {} in migration {} and stays paused until that \
                 migration is settled: `movahv resume {pid}` settles it (this VM runs again only \
                 if the target did not take the state), `movahv kill {pid}` stops it",
                handoff.target(),
                handoff.migration
            ),
            Custody::Superseded(handoff) => format!(
                "this VM is superseded: its computation moved to {} in migration {}; this stale \
                 copy can only be stopped (`movahv kill {pid}`)",
                handoff.target(),
                handoff.migration
            ),
            Custody::Own => String::from("this VM holds its computation"),
        }
    }

    /// What this VM knows of `migration` as its target; with `abort`, a pending state of it is
    /// dropped first so that the answer is final.
    fn outcome(&mut self, migration: MigrationId, abort: bool) -> Response {
        if self.committed.contains(&migration) {
            return Response::Outcome(MigrationOutcome::Committed);
        }
        let pending = self
            .hold
            .as_ref()
            .is_some_and(|hold| hold.replaced.is_some() && hold.migration == Some(migration));
        if pending && !abort {
            return Response::Outcome(MigrationOutcome::Pending);
        }
        if pending {
            self.release(false);
        }
        Response::Outcome(MigrationOutcome::NotTaken)
    }

    /// Learns how the migration this VM handed its state to ended.
    fn settle(&mut self, migration: MigrationId, committed: bool) -> Response {
        if self.settled == Some((migration, committed)) {
            return Response::Ok;
        }
        let Custody::InDoubt(handoff) = &self.custody else {
            return Response::Error(match &self.custody {
                Custody::Superseded(_) => self.not_own(),
                Custody::Own | Custody::InDoubt(_) => format!(
                    "this VM is not in doubt about migration {migration}: it handed no state to it"
                ),
            });
        };
        if handoff.migration != migration {
            return Response::Error(format!(
                "this VM handed its state to migration {}, not {migration}",
                handoff.migration
            ));
        }
        let handoff = handoff.clone();
        self.settled = Some((migration, committed));
        self.running = false;
        self.custody = if committed {
            Custody::Superseded(handoff)
        } else {
            Custody::Own
        };
        Response::Ok
    }

    /// Makes `conn` the holder, unless it already is (the hold keeps what it first recorded).
    fn take_hold(&mut self, conn: ConnId) {
        if self.hold.is_none() {
            self.hold = Some(Hold {
                conn,
                was_running: self.running,
                replaced: None,
                migration: None,
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
                if let Some(migration) = hold.migration {
                    self.committed.insert(migration);
                }
            }
            return;
        }
        if let Some(previous) = hold.replaced {
            self.vm = previous;
        }
        self.running = hold.was_running && self.vm.is_some();
    }

    /// Checks and loads an image, keeping the VM paused until a `Commit` (or `Resume`) commits it.
    fn restore(&mut self, bytes: &[u8], migration: MigrationId, conn: ConnId) -> Response {
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
        let restored = match Vm::from_image_with_heap_limit(program, &image, self.max_heap) {
            Ok(vm) => vm,
            Err(error) => return Response::Error(format!("refused the image: {error}")),
        };
        let previous = self.vm.replace(restored);
        self.take_hold(conn);
        if let Some(hold) = &mut self.hold {
            if hold.replaced.is_none() {
                // The first image this holder restores: remember what it replaced. A later one
                // (restoring again before committing) keeps that original fallback.
                hold.replaced = Some(previous);
            }
            hold.migration = Some(migration);
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
        let state = match (&self.custody, &self.vm, restored, self.running) {
            (Custody::Superseded(handoff), _, _, _) => VmState::Superseded(handoff.clone()),
            (Custody::InDoubt(handoff), _, _, _) => VmState::InDoubt(handoff.clone()),
            (Custody::Own, None, _, _) => VmState::Waiting,
            (Custody::Own, Some(_), true, _) => VmState::Restored,
            (Custody::Own, Some(_), false, true) => VmState::Running,
            (Custody::Own, Some(_), false, false) => VmState::Paused,
        };
        let loaded = self.vm.as_ref().map(|vm| {
            let facts = self.program_facts.get_or_init(|| ProgramFacts {
                instructions: vm.program().code().len() as u64,
                program_hash: hash_hex(&program_hash(vm.program())),
                source: vm.program().source_map().map(|map| map.file.clone()),
            });
            Loaded {
                ip: vm.ip(),
                stack_depth: vm.stack().len() as u64,
                instructions: facts.instructions,
                program_hash: facts.program_hash.clone(),
                source: facts.source.clone(),
            }
        });
        Snapshot {
            info: VmInfo {
                pid: self.identity.pid,
                addr: self.identity.addr.clone(),
                program: self.identity.program.clone(),
                started_ms: self.identity.started_ms,
                state,
                held: self.hold.is_some(),
                restores: self.restores,
                loaded,
                uptime_ms: 0,
                now_ms: 0,
            },
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
    const M: MigrationId = MigrationId([1; 16]);
    const OTHER: MigrationId = MigrationId([2; 16]);

    fn hold(migration: MigrationId) -> Request {
        Request::Hold {
            migration,
            to_pid: 2,
            to_addr: "127.0.0.1:2".into(),
        }
    }

    fn settle(migration: MigrationId, committed: bool) -> Request {
        Request::Settle {
            migration,
            committed,
        }
    }

    fn commit(migration: MigrationId) -> Request {
        Request::Commit {
            migration,
            run: true,
        }
    }

    fn program(start: i64) -> Vm {
        let source = format!("PUT {start}\ntop: ADD 1\nGOTO top");
        Vm::new(mova_compiler::assemble(&source).unwrap())
    }

    fn session(vm: Option<Vm>) -> Session<Vec<u8>> {
        // The sender is dropped: these tests drive `serve` and `handle` directly.
        let (_, events) = mpsc::channel();
        session_fed_by(vm, false, events)
    }

    /// A session whose events come from `events`, started paused or not.
    fn session_fed_by(vm: Option<Vm>, paused: bool, events: Receiver<Event>) -> Session<Vec<u8>> {
        let identity = Identity {
            pid: 1,
            addr: "127.0.0.1:1".into(),
            program: "test".into(),
            started_ms: 0,
        };
        let interrupt = Interrupt::new();
        let board = Arc::new(Board::new(interrupt.clone()));
        // As once a client has connected: the session publishes its snapshots.
        board.watch();
        Session::new(vm, paused, interrupt, events, Vec::new(), identity, board)
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

    fn info(session: &Session<Vec<u8>>) -> VmInfo {
        VmInfo::decode(&session.info().answer()).unwrap()
    }

    fn state(session: &Session<Vec<u8>>) -> &'static str {
        info(session).state.name()
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
            hold(M),
            Request::Stop { reason: "x".into() },
            Request::Restore {
                migration: M,
                image: Vec::new(),
            },
        ] {
            assert!(refused(&ask(&mut s, B, request.clone())), "{request:?}");
        }
        assert!(matches!(ask(&mut s, B, Request::Info), Response::Info(_)));
        assert!(info(&s).held);
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
        s.handle(Event::Disconnected(B));
        assert!(s.hold.is_some(), "another client's leaving changes nothing");
        s.handle(Event::Disconnected(A));
        assert!(s.running && s.hold.is_none());

        assert_eq!(ask(&mut s, B, Request::Interrupt), Response::Ok);
        image(&mut s, A);
        s.handle(Event::Disconnected(A));
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
        s.handle(Event::Disconnected(A));
        assert!(!s.running && s.hold.is_none());
    }

    #[test]
    fn a_handed_off_vm_stays_paused_in_doubt_until_settled() {
        let mut s = session(Some(program(0)));
        image(&mut s, A);
        assert_eq!(ask(&mut s, A, hold(M)), Response::Ok);
        assert_eq!(state(&s), "in doubt");
        assert!(matches!(
            info(&s).state,
            VmState::InDoubt(Handoff { migration: M, .. })
        ));
        assert!(!info(&s).held);
        // Neither its holder leaving nor anyone's resume runs it again.
        s.handle(Event::Disconnected(A));
        for conn in [A, B] {
            for request in [
                Request::Resume,
                Request::Interrupt,
                Request::Save { with_program: true },
                hold(OTHER),
            ] {
                assert!(
                    matches!(ask(&mut s, conn, request.clone()), Response::Error(reason) if reason.contains("in migration")),
                    "{request:?}"
                );
            }
        }
        assert!(!s.running);
        // Only the migration's own id settles it.
        assert!(matches!(
            ask(&mut s, B, settle(OTHER, false)),
            Response::Error(_)
        ));
        assert_eq!(ask(&mut s, B, settle(M, false)), Response::Ok);
        assert_eq!(ask(&mut s, B, settle(M, false)), Response::Ok, "idempotent");
        assert_eq!(state(&s), "paused");
        assert_eq!(ask(&mut s, B, Request::Resume), Response::Ok);
        assert!(s.running);
        assert!(matches!(
            ask(&mut session(None), A, hold(M)),
            Response::Error(_)
        ));
    }

    #[test]
    fn a_superseded_vm_never_runs_and_can_only_be_stopped() {
        let mut s = session(Some(program(0)));
        image(&mut s, A);
        assert_eq!(ask(&mut s, A, hold(M)), Response::Ok);
        assert_eq!(ask(&mut s, B, settle(M, true)), Response::Ok);
        assert_eq!(state(&s), "superseded");
        for request in [
            Request::Resume,
            settle(M, false),
            Request::Save { with_program: true },
        ] {
            assert!(
                matches!(ask(&mut s, A, request.clone()), Response::Error(reason) if reason.contains("superseded")),
                "{request:?}"
            );
        }
        assert!(!s.running);
        let (response, end) = s.serve(Request::Stop { reason: "x".into() }, B);
        assert_eq!(response, Response::Ok);
        assert!(matches!(end, Some(End::Stopped(_))));
    }

    #[test]
    fn a_target_knows_which_migrations_it_committed() {
        let mut source = session(Some(program(7)));
        let bytes = image(&mut source, A);
        let mut target = session(None);
        let restore = |migration| Request::Restore {
            migration,
            image: bytes.clone(),
        };
        let outcome = |s: &mut Session<Vec<u8>>, migration, abort| {
            ask(s, B, Request::Outcome { migration, abort })
        };
        assert_eq!(
            outcome(&mut target, M, false),
            Response::Outcome(MigrationOutcome::NotTaken)
        );
        assert_eq!(ask(&mut target, A, restore(M)), Response::Ok);
        assert_eq!(
            outcome(&mut target, M, false),
            Response::Outcome(MigrationOutcome::Pending)
        );
        // Another client cannot commit it, nor can its own client commit another migration.
        assert!(refused(&ask(&mut target, B, commit(M))));
        assert!(matches!(
            ask(&mut target, A, commit(OTHER)),
            Response::Error(_)
        ));
        // Aborting makes the answer final: the state is dropped and never runs here.
        assert_eq!(
            outcome(&mut target, M, true),
            Response::Outcome(MigrationOutcome::NotTaken)
        );
        assert!(target.vm.is_none() && target.hold.is_none());
        assert!(matches!(ask(&mut target, A, commit(M)), Response::Error(_)));

        assert_eq!(ask(&mut target, A, restore(OTHER)), Response::Ok);
        assert_eq!(ask(&mut target, A, commit(OTHER)), Response::Ok);
        assert!(target.running);
        for abort in [false, true] {
            assert_eq!(
                outcome(&mut target, OTHER, abort),
                Response::Outcome(MigrationOutcome::Committed)
            );
        }
        assert!(target.running, "a committed state is never aborted");
    }

    #[test]
    fn a_vm_does_not_exit_before_its_answers_are_written() {
        // A program that halts at once: the answer to the Resume that runs it must be written
        // before `run` returns (and the process exits), or the client cannot tell whether the
        // Resume took effect.
        let (sender, events) = mpsc::channel();
        let vm = Vm::new(mova_compiler::assemble("PUT 1").unwrap());
        let s = session_fed_by(Some(vm), true, events);
        let (reply, answer) = mpsc::channel();
        let (written_tx, written) = mpsc::channel();
        sender
            .send(Event::Request {
                request: Request::Resume,
                conn: A,
                reply,
                written,
            })
            .unwrap();
        let wrote = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let wrote = std::sync::Arc::clone(&wrote);
            std::thread::spawn(move || {
                assert_eq!(answer.recv().unwrap(), Response::Ok);
                // A slow connection thread.
                std::thread::sleep(Duration::from_millis(200));
                wrote.store(true, std::sync::atomic::Ordering::SeqCst);
                written_tx.send(()).unwrap();
            })
        };
        let (end, _) = s.run();
        assert!(matches!(end, End::Halted));
        assert!(
            wrote.load(std::sync::atomic::Ordering::SeqCst),
            "the session ended before its answer was written"
        );
        writer.join().unwrap();
        drop(sender);
    }

    #[test]
    fn requests_queued_when_the_vm_exits_are_answered() {
        let (sender, events) = mpsc::channel();
        let s = session_fed_by(Some(program(0)), true, events);
        let mut answers = Vec::new();
        for request in [
            Request::Stop {
                reason: "migrated to 2".into(),
            },
            Request::Save { with_program: true },
        ] {
            let (reply, answer) = mpsc::channel();
            let (written_tx, written) = mpsc::channel();
            sender
                .send(Event::Request {
                    request,
                    conn: A,
                    reply,
                    written,
                })
                .unwrap();
            answers.push((answer, written_tx));
        }
        let waiter = std::thread::spawn(move || s.run());
        let got: Vec<Response> = answers
            .iter()
            .map(|(answer, written)| {
                let response = answer.recv().unwrap();
                written.send(()).unwrap();
                response
            })
            .collect();
        let (end, _) = waiter.join().unwrap();
        assert!(matches!(end, End::Stopped(_)));
        assert_eq!(
            got,
            [
                Response::Ok,
                Response::Error("this VM stopped: migrated to 2".into())
            ]
        );
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
                    migration: M,
                    image: bytes.clone()
                }
            ),
            Response::Ok
        );
        assert_eq!(state(&blank), "restored");
        assert!(refused(&ask(
            &mut blank,
            B,
            Request::Save { with_program: true }
        )));
        assert!(refused(&ask(&mut blank, B, Request::Resume)));
        blank.handle(Event::Disconnected(A));
        assert!(blank.vm.is_none() && !blank.running, "dropped: blank again");
        assert_eq!(info(&blank).restores, 0);

        assert_eq!(
            ask(
                &mut blank,
                B,
                Request::Restore {
                    migration: M,
                    image: bytes
                }
            ),
            Response::Ok
        );
        assert_eq!(ask(&mut blank, B, Request::Resume), Response::Ok);
        assert!(blank.running && blank.hold.is_none());
        assert_eq!(info(&blank).restores, 1);
        blank.handle(Event::Disconnected(B));
        assert!(blank.running, "a committed image stays");
    }

    #[test]
    fn nothing_is_published_until_a_client_connects_and_then_info_is_exact() {
        let identity = Identity {
            pid: 1,
            addr: "127.0.0.1:1".into(),
            program: "test".into(),
            started_ms: 0,
        };
        let interrupt = Interrupt::new();
        let board = Arc::new(Board::new(interrupt.clone()));
        let (events, receiver) = mpsc::channel();
        let mut session = Session::new(
            Some(program(0)),
            true,
            interrupt,
            receiver,
            Vec::new(),
            identity,
            Arc::clone(&board),
        );
        // Nobody could read a snapshot yet: none was made (nor the program hashed).
        assert!(board.snapshot().is_none());
        assert!(session.program_facts.get().is_none());
        // A client connects; its first Info, finding no snapshot, is the session's to answer.
        board.watch();
        drop(events);
        let answer = command(&mut session, 7, Request::Info);
        let Response::Info(answer) = answer else {
            panic!("expected Info, got {answer:?}");
        };
        let info = VmInfo::decode(&answer).unwrap();
        assert_eq!(info.state.name(), "paused");
        assert!(hash(&info).is_some());
        // And what it did is published for the next Info.
        assert_eq!(hash(&posted(&session)), hash(&info));
    }

    /// What the session last published for the connections to answer `Info` from.
    fn posted(session: &Session<Vec<u8>>) -> VmInfo {
        VmInfo::decode(&session.board.snapshot().unwrap().answer()).unwrap()
    }

    fn hash(info: &VmInfo) -> Option<&str> {
        info.loaded
            .as_ref()
            .map(|loaded| loaded.program_hash.as_str())
    }

    /// Hands `request` from `conn` to the session as the control channel does; returns the answer.
    fn command(session: &mut Session<Vec<u8>>, conn: ConnId, request: Request) -> Response {
        let (reply, answer) = mpsc::channel();
        let (_written, written) = mpsc::channel();
        let event = Event::Request {
            request,
            conn,
            reply,
            written,
        };
        assert!(session.handle(event).is_none());
        answer.try_recv().unwrap()
    }

    #[test]
    fn every_command_is_published_with_the_program_it_left() {
        let mut source = session(Some(program(7)));
        assert_eq!(
            posted(&source).state,
            VmState::Running,
            "published from the start"
        );
        assert_eq!(command(&mut source, A, Request::Interrupt), Response::Ok);
        assert_eq!(posted(&source).state, VmState::Paused);
        let Response::Image(bytes) = command(&mut source, A, Request::Save { with_program: true })
        else {
            panic!("expected an image");
        };
        let source_hash = hash(&posted(&source)).map(str::to_owned);
        assert!(source_hash.is_some());
        assert!(posted(&source).held);

        // A blank VM takes the image's program; its leaving client takes it away again.
        let mut blank = session(None);
        assert_eq!(posted(&blank).loaded, None);
        assert_eq!(
            command(
                &mut blank,
                A,
                Request::Restore {
                    migration: M,
                    image: bytes
                }
            ),
            Response::Ok
        );
        let restored = posted(&blank);
        assert_eq!(restored.state, VmState::Restored);
        assert_eq!(hash(&restored), source_hash.as_deref());
        assert!(blank.handle(Event::Disconnected(A)).is_none());
        let mut waiting = posted(&blank);
        assert_eq!(waiting.state, VmState::Waiting);
        assert_eq!(waiting.loaded, None, "{waiting:?}");
        // The board says what the session says, but for the clock readings.
        let mut now = info(&blank);
        (waiting.uptime_ms, waiting.now_ms) = (0, 0);
        (now.uptime_ms, now.now_ms) = (0, 0);
        assert_eq!(waiting, now);

        // Another program's image: the board describes that program, not the one before.
        let mut other = session(Some(program(8)));
        let bytes = image(&mut other, A);
        let other_hash = hash(&posted(&other)).map(str::to_owned);
        assert_ne!(other_hash, source_hash);
        assert_eq!(
            command(
                &mut blank,
                B,
                Request::Restore {
                    migration: M,
                    image: bytes
                }
            ),
            Response::Ok
        );
        assert_eq!(hash(&posted(&blank)), other_hash.as_deref());
    }

    #[test]
    fn a_refused_image_takes_no_hold() {
        let mut s = session(Some(program(0)));
        let response = ask(
            &mut s,
            A,
            Request::Restore {
                migration: M,
                image: vec![1, 2, 3],
            },
        );
        assert!(
            matches!(response, Response::Error(reason) if reason.starts_with("refused the image"))
        );
        assert!(s.hold.is_none() && s.running);
    }
}
