//! A VM under control: the interpreter's thread runs the program and, between runs, serves the
//! requests the control channel forwards ([`control`](crate::control)) and the signals the process
//! receives.
//!
//! A request interrupts a running program; it is served at the instruction boundary where the
//! program paused (after its output was flushed), and the program then runs on unless the request
//! paused it. A restored image is not run until a `Resume` commits it, and is dropped again if the
//! client that sent it disconnects first, so a half-finished migration never runs a copy.

use crate::control::{Command, ConnId};
use crate::interrupt::Interrupt;
use crate::machine::{Outcome, Trap, Vm};
use crate::protocol::{Request, Response};
use crate::runtime::now_ms;
use mova_lang::image::{Image, hash_hex, program_hash};
use mova_lang::mvb::Program;
use std::io::Write;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

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

/// A restored image waiting for `Resume`, and what to go back to if it never comes.
struct Pending {
    conn: ConnId,
    previous: Option<Vm>,
    was_running: bool,
}

/// The interpreter's side of a controlled VM.
pub struct Session<W: Write> {
    vm: Option<Vm>,
    running: bool,
    pending: Option<Pending>,
    interrupt: Interrupt,
    commands: Receiver<Command>,
    out: W,
    identity: Identity,
    started: Instant,
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
    /// running at once unless `paused`.
    pub fn new(
        vm: Option<Vm>,
        paused: bool,
        interrupt: Interrupt,
        commands: Receiver<Command>,
        out: W,
        identity: Identity,
    ) -> Self {
        Session {
            running: !paused && vm.is_some(),
            vm,
            pending: None,
            interrupt,
            commands,
            out,
            identity,
            started: Instant::now(),
        }
    }

    /// Runs until the program ends or the VM is stopped; returns how, and the VM as it was.
    pub fn run(mut self) -> (End, Option<Vm>) {
        loop {
            // Clear before draining: a request sent after the drain interrupts the run below.
            self.interrupt.clear();
            while let Ok(command) = self.commands.try_recv() {
                if let Some(end) = self.handle(command) {
                    return (end, self.vm);
                }
            }
            let runnable = self.running && self.pending.is_none();
            match (&mut self.vm, runnable) {
                (Some(vm), true) => match vm.run(&mut self.out, &self.interrupt) {
                    Outcome::Halted => return (End::Halted, self.vm),
                    Outcome::Trapped(trap) => return (End::Trapped(trap), self.vm),
                    Outcome::Paused => {}
                },
                (Some(_) | None, _) => match self.commands.recv() {
                    Ok(command) => {
                        if let Some(end) = self.handle(command) {
                            return (end, self.vm);
                        }
                    }
                    Err(_) => return (End::Orphaned, self.vm),
                },
            }
        }
    }

    fn handle(&mut self, command: Command) -> Option<End> {
        match command {
            Command::Signal(signal) => Some(End::Signal(signal)),
            Command::Disconnected(conn) => {
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|pending| pending.conn == conn)
                {
                    // The client that restored an image left without committing it: go back.
                    if let Some(pending) = self.pending.take() {
                        self.vm = pending.previous;
                        self.running = pending.was_running && self.vm.is_some();
                    }
                }
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
        let response = match request {
            Request::Hello { .. } => Response::Error("already authenticated".into()),
            Request::Interrupt => {
                self.running = false;
                Response::Ok
            }
            Request::Resume => {
                if self
                    .pending
                    .as_ref()
                    .is_some_and(|pending| pending.conn != conn)
                {
                    // Only the client that restored an image may commit it.
                    return (
                        Response::Error(
                            "another client's restore is waiting to be committed by that client"
                                .into(),
                        ),
                        None,
                    );
                }
                if self.pending.take().is_some() || self.vm.is_some() {
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
                        self.running = false;
                        Response::Image(image.encode())
                    }
                    Err(error) => Response::Error(format!("cannot save: {error}")),
                },
                None => Response::Error("no program is loaded: there is no state to save".into()),
            },
            Request::Restore { image } => self.restore(&image, conn),
            Request::Info => Response::Info(self.info()),
            Request::Stop { reason } => return (Response::Ok, Some(End::Stopped(reason))),
        };
        (response, None)
    }

    /// Checks and loads an image, keeping the VM paused until a `Resume` commits it.
    fn restore(&mut self, bytes: &[u8], conn: ConnId) -> Response {
        if self
            .pending
            .as_ref()
            .is_some_and(|pending| pending.conn != conn)
        {
            return Response::Error("another client's restore is waiting to be committed".into());
        }
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
        match &mut self.pending {
            // The same client restores again before committing: keep the original fallback.
            Some(_) => {}
            None => {
                self.pending = Some(Pending {
                    conn,
                    previous,
                    was_running: self.running,
                });
            }
        }
        self.running = false;
        Response::Ok
    }

    fn info(&self) -> String {
        let state = match (&self.vm, self.pending.is_some(), self.running) {
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
            "uptime_ms": u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "now_ms": now_ms(),
            "state": state,
        });
        if let Some(vm) = &self.vm {
            info["ip"] = vm.ip().into();
            info["stack_depth"] = vm.stack().len().into();
            info["instructions"] = vm.program().code().len().into();
            info["program_hash"] = hash_hex(&program_hash(vm.program())).into();
            if let Some(map) = vm.program().source_map() {
                info["source"] = map.file.into();
            }
        }
        info.to_string()
    }
}
