//! A fault-injecting proxy on a VM's control channel, shared by the fault tests (`faults.rs`) and
//! the chaos test (`chaos.rs`).
//!
//! A VM's runtime record is pointed at its proxy, so `movahv` addresses the VM by pid as a user
//! would (and can tell a dead process from an unreachable one) while every frame passes through
//! the proxy. The proxy relays frames one by one and, at one chosen moment — before a request of a
//! given kind reaches the VM, half-way through it, after the VM answered but before the answer is
//! relayed, or after it is relayed — cuts both connections, kills the VM with SIGKILL, delays,
//! loses the request or starts a partition, once. Later connections are relayed untouched, as a
//! healed network would. A proxy can be armed again with another rule (the chaos test gives one
//! VM a fault in each of several migrations), disarmed, and healed.
//!
//! A cut or a kill is meant as one instant, as a crash or a pulled cable is, but a proxy relays
//! the answer before it and closes the connections in separate steps: a client could talk to
//! the other VM in between, and what it did next would depend on how the threads were
//! scheduled. So two proxies can be coupled ([`Proxy::couple`]): neither relays a request while a
//! cut or kill on the other is playing out, that is until the client's end has acknowledged the
//! close.

use super::{Sandbox, TIMEOUT, Vm};
use mova_vm::runtime::{self, Record};
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Request kinds, the protocol's own, for rules.
#[allow(unused_imports)] // Each test binary names the kinds it injects faults at, not all.
pub use mova_vm::protocol::kind::{
    COMMIT, HOLD, INFO, INTERRUPT, OUTCOME, RESTORE, RESUME, SAVE, SETTLE, STOP,
};

/// When, in the life of one request, the fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// The request has not reached the VM.
    BeforeRequest,
    /// Half of the request's frame has reached the VM.
    MidRequest,
    /// The VM served the request; its answer has not reached the client.
    BeforeAnswer,
    /// The answer has reached the client.
    AfterAnswer,
}

/// What the fault is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Both connections are closed.
    Cut,
    /// The VM is killed with SIGKILL (and the connections close).
    Kill,
    /// Nothing breaks: the proxy waits this long, then relays on.
    Delay(Duration),
    /// The request is lost on the way: the proxy keeps it, and the connections open, until the
    /// client goes away.
    Swallow,
    /// A partition: nothing more passes on this connection, which stays open at both ends (each
    /// side sees it half-open, never closed), and every connection made in the next `Duration`
    /// is closed at once; later ones are relayed, as a healed network would.
    Partition(Duration),
}

/// A fault to inject at the first request of `kind`.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub kind: u8,
    pub when: When,
    pub fault: Fault,
}

/// A relay between clients and one VM's control channel, with at most one fault armed at a time.
pub struct Proxy(Link);

/// What a proxy shares with each of its relays.
#[derive(Clone)]
struct Link {
    fired: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    /// The fault armed, read afresh for every request.
    rule: Arc<Mutex<Option<Rule>>>,
    /// Until when a partition lasts, once one struck.
    healed_at: Arc<Mutex<Option<Instant>>>,
    /// How many times the network was healed: a partitioned connection ends when this changes.
    heals: Arc<AtomicU64>,
    /// Whether a cut or kill is playing out: it fired, and the client has not yet seen the close.
    striking: Arc<AtomicBool>,
    /// The coupled proxy's `striking`, if any: requests wait while it is set.
    coupled: Arc<Mutex<Option<Arc<AtomicBool>>>>,
    /// How long a cut or kill right after an answer waits between relaying it and closing.
    lag: Arc<Mutex<Duration>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.0.done.store(true, Ordering::SeqCst);
    }
}

impl Proxy {
    /// Starts a proxy in front of `vm` and points the VM's runtime record at it.
    pub fn before(sandbox: &Sandbox, vm: &Vm, rule: Option<Rule>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let link = Link {
            fired: Arc::new(AtomicBool::new(false)),
            done: Arc::new(AtomicBool::new(false)),
            rule: Arc::new(Mutex::new(rule)),
            healed_at: Arc::new(Mutex::new(None)),
            heals: Arc::new(AtomicU64::new(0)),
            striking: Arc::new(AtomicBool::new(false)),
            coupled: Arc::new(Mutex::new(None)),
            lag: Arc::new(Mutex::new(Duration::ZERO)),
        };
        let upstream = vm.record.addr;
        let pid = vm.pid;
        let shared = link.clone();
        thread::spawn(move || {
            while !shared.done.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let partitioned = shared
                            .healed_at
                            .lock()
                            .unwrap()
                            .is_some_and(|healed| Instant::now() < healed);
                        if partitioned {
                            continue; // Dropped: closed at once.
                        }
                        let link = shared.clone();
                        thread::spawn(move || relay(client, upstream, pid, &link));
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => return,
                }
            }
        });
        let record = Record {
            addr,
            ..vm.record.clone()
        };
        record.write(&sandbox.run).unwrap();
        Proxy(link)
    }

    /// Whether the fault armed last was injected.
    pub fn fired(&self) -> bool {
        self.0.fired.load(Ordering::SeqCst)
    }

    /// Arms `rule` in place of the previous one (fired or not): it strikes once, at the next
    /// request it matches on any connection.
    pub fn arm(&self, rule: Rule) {
        *self.0.rule.lock().unwrap() = Some(rule);
        self.0.fired.store(false, Ordering::SeqCst);
    }

    /// Disarms the rule, if it has not struck yet: from now on everything is relayed untouched.
    pub fn disarm(&self) {
        *self.0.rule.lock().unwrap() = None;
    }

    /// Ends every partition, as a network that heals and resets the connections it broke would:
    /// each partitioned connection is closed at both ends, and new connections are relayed.
    pub fn heal(&self) {
        *self.0.healed_at.lock().unwrap() = None;
        self.0.heals.fetch_add(1, Ordering::SeqCst);
    }

    /// Couples two proxies (a migration's source and target): from now on neither relays a
    /// request while a cut or kill on the other is playing out — until that VM is dead, both of
    /// its connections are closed and the client's end has acknowledged the close.
    pub fn couple(one: &Proxy, other: &Proxy) {
        *one.0.coupled.lock().unwrap() = Some(Arc::clone(&other.0.striking));
        *other.0.coupled.lock().unwrap() = Some(Arc::clone(&one.0.striking));
    }

    /// Makes a cut or kill right after an answer wait `lag` between relaying the answer and
    /// closing, as the proxy's thread does when it is descheduled there under load.
    pub fn lag_before_close(&self, lag: Duration) {
        *self.0.lag.lock().unwrap() = lag;
    }
}

/// Reads one frame (its length prefix included); `None` when the peer closed or failed.
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut frame = vec![0; 4];
    stream.read_exact(&mut frame).ok()?;
    let length = u32::from_be_bytes(frame[..4].try_into().unwrap());
    let length = usize::try_from(length).ok()?;
    frame.resize(4 + length, 0);
    stream.read_exact(&mut frame[4..]).ok()?;
    Some(frame)
}

impl Link {
    /// Waits while a cut or kill on the coupled proxy plays out (at most [`TIMEOUT`]).
    fn let_the_other_fault_play_out(&self) {
        let Some(other) = self.coupled.lock().unwrap().clone() else {
            return;
        };
        let deadline = Instant::now() + TIMEOUT;
        while other.load(Ordering::SeqCst) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Closes both connections for a cut or kill and returns once the client has been told: its
    /// end acknowledged the close, so whatever it looks at next shows the connection closed.
    fn close(&self, client: &TcpStream, vm: &TcpStream) {
        let ends = client.local_addr().ok().zip(client.peer_addr().ok());
        let _ = client.shutdown(Shutdown::Both);
        let _ = vm.shutdown(Shutdown::Both);
        if let Some((SocketAddr::V4(local), SocketAddr::V4(peer))) = ends {
            wait_until_acknowledged(local, peer);
        }
        self.striking.store(false, Ordering::SeqCst);
    }
}

/// Waits until the peer has acknowledged the close of the connection from `local` to `peer`: the
/// kernel's table (`/proc/net/tcp`) no longer shows this end in a state whose FIN is
/// unacknowledged. At most [`TIMEOUT`].
fn wait_until_acknowledged(local: SocketAddrV4, peer: SocketAddrV4) {
    // The table shows each address as the four bytes of the IP read as a native-endian
    // number, then the port, both in hexadecimal.
    let key = |addr: SocketAddrV4| {
        format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(addr.ip().octets()),
            addr.port()
        )
    };
    let (local, peer) = (key(local), key(peer));
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let state = table.lines().find_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let ends = (fields.next()?, fields.next()?);
            (ends == (local.as_str(), peer.as_str())).then(|| fields.next().map(str::to_owned))?
        });
        // ESTABLISHED, FIN-WAIT-1, LAST-ACK, CLOSING: this end's FIN is not acknowledged yet.
        let waiting = matches!(state.as_deref(), Some("01" | "04" | "09" | "0B"));
        if !waiting || Instant::now() >= deadline {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Relays one client's connection frame by frame, injecting the armed rule's fault once.
fn relay(mut client: TcpStream, upstream: SocketAddr, pid: u32, link: &Link) {
    let fired = &*link.fired;
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(TIMEOUT));
    let Ok(mut vm) = TcpStream::connect(upstream) else {
        return; // The VM is gone: the client sees its connection close.
    };
    let _ = vm.set_read_timeout(Some(TIMEOUT));
    let _ = client.set_nodelay(true);
    let _ = vm.set_nodelay(true);
    let strike =
        |rule: Option<Rule>, when: When, kind: u8, client: &TcpStream, vm: &TcpStream| -> bool {
            let Some(rule) = rule else { return false };
            if rule.kind != kind || rule.when != when || fired.swap(true, Ordering::SeqCst) {
                return false;
            }
            if matches!(rule.fault, Fault::Cut | Fault::Kill) {
                link.striking.store(true, Ordering::SeqCst);
            }
            match rule.fault {
                Fault::Delay(pause) => {
                    thread::sleep(pause);
                    return false;
                }
                Fault::Swallow => {
                    let mut rest = Vec::new();
                    let _ = (&*client).read_to_end(&mut rest);
                }
                Fault::Partition(lasting) => {
                    let heals = link.heals.load(Ordering::SeqCst);
                    *link.healed_at.lock().unwrap() = Some(Instant::now() + lasting);
                    // Nothing passes and nothing closes until the test ends or heals the network.
                    while !link.done.load(Ordering::SeqCst)
                        && link.heals.load(Ordering::SeqCst) == heals
                    {
                        thread::sleep(Duration::from_millis(20));
                    }
                    return true;
                }
                Fault::Kill => kill(pid),
                Fault::Cut => {}
            }
            link.close(client, vm);
            true
        };
    while let Some(request) = read_frame(&mut client) {
        link.let_the_other_fault_play_out();
        let rule = *link.rule.lock().unwrap();
        let kind = request.get(4).copied().unwrap_or(0);
        if strike(rule, When::BeforeRequest, kind, &client, &vm) {
            return;
        }
        let half = 4 + (request.len() - 4) / 2;
        let split = rule.is_some_and(|rule| rule.kind == kind && rule.when == When::MidRequest);
        if split && !fired.load(Ordering::SeqCst) {
            if vm.write_all(&request[..half]).is_err() {
                break;
            }
            // Let the VM read the first half before the fault.
            thread::sleep(Duration::from_millis(50));
            if strike(rule, When::MidRequest, kind, &client, &vm) {
                return;
            }
            if vm.write_all(&request[half..]).is_err() {
                break;
            }
        } else if vm.write_all(&request).is_err() {
            break;
        }
        let Some(answer) = read_frame(&mut vm) else {
            break;
        };
        if strike(rule, When::BeforeAnswer, kind, &client, &vm) {
            return;
        }
        // A cut or kill right after the answer strikes as the answer is relayed: the VM killed
        // after it answered is dead by the time its answer arrives (killed before relaying, so
        // that the client cannot race ahead of the kill), and the coupled proxy relays nothing
        // until the client has seen the close too.
        let close_after = rule.and_then(|rule| {
            let closes = matches!(rule.fault, Fault::Cut | Fault::Kill);
            (rule.kind == kind && rule.when == When::AfterAnswer && closes).then_some(rule.fault)
        });
        if let Some(fault) = close_after
            && !fired.swap(true, Ordering::SeqCst)
        {
            link.striking.store(true, Ordering::SeqCst);
            if fault == Fault::Kill {
                kill(pid);
            }
            let _ = client.write_all(&answer);
            thread::sleep(*link.lag.lock().unwrap());
            link.close(&client, &vm);
            return;
        }
        if client.write_all(&answer).is_err() {
            break;
        }
        if strike(rule, When::AfterAnswer, kind, &client, &vm) {
            return;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = vm.shutdown(Shutdown::Both);
}

/// Kills `pid` with SIGKILL and waits until it is gone (a zombie counts as gone).
pub fn kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -KILL {pid} failed");
    let deadline = Instant::now() + TIMEOUT;
    while runtime::alive(pid) {
        assert!(Instant::now() < deadline, "{pid} survives SIGKILL");
        thread::sleep(Duration::from_millis(2));
    }
}
