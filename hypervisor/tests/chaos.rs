//! A seeded chaos test of live migration (issue 9, item 6): random faults at random moments across
//! many migrations, with real `mova` VMs, the real `movahv`, and the fault-injecting proxy of
//! [`common::proxy`] on every VM's control channel.
//!
//! Each trial starts a source running the fast seed loop and a few blank VMs (`mova serve`), then
//! runs one to three steps. A step is one migration of the computation, or two at once (two of
//! one source, or one chasing the other's target), with faults drawn from the trial's seed: a
//! proxy rule at a random request kind (cut, SIGKILL, delay, lost request, partition), and faults
//! at random moments — SIGKILL of the source, the target or `movahv`, SIGSTOP then SIGCONT of one
//! of them after a random pause, and meddling commands from a second `movahv` (`resume`,
//! `interrupt`, `rstate --leave-running`, rarely `kill`). A short delay on the other proxy
//! stretches the migration so that the timed faults land inside it.
//!
//! After the faults the world is settled the way a user following `movahv`'s messages would
//! settle it (a failed `migrate`'s as the data `--json` gives, `resume`'s as text): a VM in doubt is resolved with `movahv resume PID`, a superseded one stopped with
//! `movahv kill PID`; `--force` is given only when `movahv` says the target cannot be asked, the
//! test killed that target, and no other VM holds the computation — and then what the dead
//! target printed after the hand-off may print again (docs/protocol.md, "In doubt and
//! superseded"), which the check accounts for exactly. A rescue file left after the test killed
//! a source is restored with `mova --restore` when no VM runs the computation. Then: at most one VM
//! prints (sampled twice), exactly one unless the test killed a VM that could hold the
//! computation, no VM is left in doubt, superseded, restored or held, every VM's output is
//! consecutive, and the output of all VMs together is 1, 2, 3, … with no gap and no repeat.
//! `movahv` must never panic (exit 101) or hang (every command is bounded).
//!
//! Environment: `MOVA_CHAOS_SEED` (decimal or `0x` hex; default [`DEFAULT_SEED`]),
//! `MOVA_CHAOS_TRIALS` (a number of trials) or `MOVA_CHAOS_SECONDS` (trials are started until this
//! budget is spent; default [`DEFAULT_SECONDS`]), `MOVA_CHAOS_FIRST` (the first trial's number, to
//! replay one: a failure prints the command) and `MOVA_CHAOS_JOBS` (trials run at once; default
//! [`DEFAULT_JOBS`]); `MOVA_CHAOS_VERBOSE=1` prints every trial's log. Each trial draws its plan
//! from the seed and its number alone, so a trial replays the same plan; the moments faults land
//! at depend on the machine's timing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

mod common;

use common::proxy::{
    COMMIT, Fault, HOLD, INFO, OUTCOME, Proxy, RESTORE, RESUME, Rule, SAVE, SETTLE, STOP, When,
};
use common::*;
use mova_vm::runtime;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The seed when `MOVA_CHAOS_SEED` is not set ("movachao" in ASCII): fixed, so that CI runs the
/// same plans every time.
const DEFAULT_SEED: u64 = 0x6d6f_7661_6368_616f;

/// How long the default run starts trials for: with two trials at a time, about a minute in all
/// on a loaded two-core machine (a trial started just before the budget ends still finishes).
const DEFAULT_SECONDS: u64 = 35;

/// Trials run at once: each mostly waits (for VMs to print, for lost answers), so two share a
/// core well.
const DEFAULT_JOBS: u64 = 2;

/// The longest a `movahv migrate` may take before it counts as hung. The worst plan stacks a
/// lost answer (5 s), asking again (5 s) and two pauses of up to 7 s on a 30 s image wait.
const MIGRATE_BOUND: Duration = Duration::from_secs(90);

/// The longest any other `movahv` command may take (a `resume` asks a target for up to 5 s, after
/// connecting and the handshake, 5 s each at most).
const COMMAND_BOUND: Duration = Duration::from_secs(40);

/// How long settling the world may take: the slowest VM to settle is a target whose pending
/// state a delayed request keeps held for up to 6.5 s.
const SETTLE_BOUND: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// A small deterministic generator.

/// splitmix64 (Steele, Lea and Flood): tiny, fast, and plenty for drawing fault plans.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    /// The generator of trial `index` under `seed`: each trial's plan depends on these alone.
    fn for_trial(seed: u64, index: u64) -> Rng {
        let mut mixer = Rng(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        Rng(mixer.next())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::try_from(self.next() % items.len() as u64).unwrap()]
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.range(low, high))
    }
}

// ---------------------------------------------------------------------------------------------
// Fault plans.

/// Whom a timed fault strikes: the migration's source or target VM, or its `movahv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Source,
    Target,
    Movahv,
}

/// A command a second `movahv` sends in the middle of a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meddle {
    Resume,
    Interrupt,
    /// `rstate --leave-running`: a save that takes the VM's hold for a moment.
    Rstate,
    /// Legitimately ends the computation if it reaches the VM holding it.
    Kill,
}

/// A fault at a moment.
#[derive(Clone, Copy, Debug)]
enum Action {
    SigKill(Who),
    /// SIGSTOP, then SIGCONT after the pause.
    Stop(Who, Duration),
    /// A command from a second `movahv` at the source or target.
    Meddle(Meddle, Who),
}

/// Which VM a migration moves the computation from.
#[derive(Clone, Copy, Debug)]
enum From {
    /// The VM that holds it when the step begins.
    Holder,
    /// The target of the step's first migration (a migration chasing the first).
    FirstTarget,
}

/// Which VM a migration moves the computation into.
#[derive(Clone, Copy, Debug)]
enum To {
    /// A blank VM (`mova serve`), started if none is left.
    Blank,
    /// Any other live VM, whatever it holds (`migrate` must refuse all but a blank one).
    Any,
}

/// One migration of a step and its faults.
#[derive(Clone, Debug)]
struct MigrationPlan {
    /// When it starts, after the step's first.
    start: Duration,
    from: From,
    to: To,
    /// Which of the candidate VMs `to` names (modulo their number).
    pick: u64,
    /// A rule on the source's proxy and one on the target's.
    source_rule: Option<Rule>,
    target_rule: Option<Rule>,
    /// Faults at moments after the migration starts.
    timed: Vec<(Duration, Action)>,
    /// A fault the moment the delay rule on the source's or target's proxy strikes: at an exact
    /// point of the protocol, held there while the delay lasts.
    trigger: Option<(Who, Action)>,
}

/// One step of a trial.
#[derive(Clone, Debug)]
struct StepPlan {
    migrations: Vec<MigrationPlan>,
    /// Whether the world is settled after the step (otherwise the next step meets the VMs in
    /// doubt, superseded or held that this one left).
    settle_after: bool,
    /// Whether the user then runs `movahv resume` on the step's sources before looking at `ps`
    /// (which settles a source whose target took the state by itself).
    resume_first: bool,
}

/// A trial: how many blank VMs it starts with, and its steps.
#[derive(Clone, Debug)]
struct Plan {
    blanks: usize,
    steps: Vec<StepPlan>,
}

/// Request kinds a source sees in a migration (and in giving the state back), and a target's.
const SOURCE_KINDS: [u8; 6] = [INFO, SAVE, HOLD, SETTLE, STOP, RESUME];
const TARGET_KINDS: [u8; 4] = [INFO, RESTORE, COMMIT, OUTCOME];

/// Where a delay stretches a migration: mostly around the hand-off (the Hold, the Commit),
/// where a fault leaves the source in doubt.
const SOURCE_STRETCH: [u8; 5] = [SAVE, HOLD, HOLD, HOLD, SETTLE];
const TARGET_STRETCH: [u8; 4] = [RESTORE, COMMIT, COMMIT, COMMIT];
const WHENS: [When; 4] = [
    When::BeforeRequest,
    When::MidRequest,
    When::BeforeAnswer,
    When::AfterAnswer,
];

fn plan(rng: &mut Rng) -> Plan {
    let blanks = usize::try_from(rng.range(2, 3)).unwrap();
    let steps = (0..rng.range(1, 3)).map(|_| step(rng)).collect();
    Plan { blanks, steps }
}

fn step(rng: &mut Rng) -> StepPlan {
    let mut migrations = vec![migration(rng, Duration::ZERO, From::Holder)];
    if rng.chance(25) {
        let start = rng.millis(0, 300);
        let from = if rng.chance(50) {
            From::Holder
        } else {
            From::FirstTarget
        };
        migrations.push(migration(rng, start, from));
    }
    StepPlan {
        migrations,
        settle_after: rng.chance(70),
        resume_first: rng.chance(50),
    }
}

fn migration(rng: &mut Rng, start: Duration, from: From) -> MigrationPlan {
    let to = if rng.chance(10) { To::Any } else { To::Blank };
    let pick = rng.next();
    let (mut source_rule, mut target_rule) = (None, None);
    if rng.chance(70) {
        if rng.chance(50) {
            source_rule = Some(fault_rule(rng, &SOURCE_KINDS));
        } else {
            target_rule = Some(fault_rule(rng, &TARGET_KINDS));
        }
    }
    // A short delay on a proxy without a rule stretches the migration, so that faults at random
    // moments land inside it rather than before or after it; or it triggers a fault the moment
    // it strikes.
    let mut trigger = None;
    if rng.chance(70) {
        let delay = |rng: &mut Rng, kinds: &[u8]| Rule {
            kind: rng.pick(kinds),
            when: rng.pick(&WHENS),
            fault: Fault::Delay(rng.millis(20, 400)),
        };
        let side = if source_rule.is_none() {
            source_rule = Some(delay(rng, &SOURCE_STRETCH));
            Some(Who::Source)
        } else if target_rule.is_none() {
            target_rule = Some(delay(rng, &TARGET_STRETCH));
            Some(Who::Target)
        } else {
            None
        };
        if let Some(side) = side
            && rng.chance(60)
        {
            trigger = Some((side, trigger_action(rng)));
        }
    }
    let delays: Duration = [source_rule, target_rule]
        .iter()
        .flatten()
        .map(|rule| match rule.fault {
            Fault::Delay(pause) => pause.min(Duration::from_secs(1)),
            _ => Duration::ZERO,
        })
        .sum();
    let window = 40 + u64::try_from(delays.as_millis()).unwrap();
    let count = rng.pick(&[0, 1, 1, 1, 2]);
    let timed = (0..count)
        .map(|_| (rng.millis(0, window), action(rng)))
        .collect();
    MigrationPlan {
        start,
        from,
        to,
        pick,
        source_rule,
        target_rule,
        timed,
        trigger,
    }
}

/// A fault at the first request of a random kind. Lost requests, long delays and partitions
/// strike only requests answered within 5 s: at a Save or Restore, `movahv` waits 30 s for the
/// image, which would spend the whole budget on one wait.
fn fault_rule(rng: &mut Rng, kinds: &[u8]) -> Rule {
    let kind = rng.pick(kinds);
    let when = rng.pick(&WHENS);
    let prompt = kind != SAVE && kind != RESTORE;
    let fault = match rng.range(0, 99) {
        0..=29 => Fault::Cut,
        30..=44 => Fault::Kill,
        45..=69 => Fault::Delay(rng.millis(20, 800)),
        70..=79 if prompt => Fault::Partition(if rng.chance(70) {
            rng.millis(300, 3000)
        } else {
            rng.millis(5500, 9000)
        }),
        80..=85 if prompt => Fault::Swallow,
        // Outlasts the 5 s `movahv` waits for an answer: the request or answer arrives late.
        86..=90 if prompt => Fault::Delay(rng.millis(5200, 6500)),
        _ => Fault::Cut,
    };
    Rule { kind, when, fault }
}

fn action(rng: &mut Rng) -> Action {
    let vm = |rng: &mut Rng| rng.pick(&[Who::Source, Who::Target]);
    match rng.range(0, 99) {
        0..=7 => Action::SigKill(Who::Source),
        8..=15 => Action::SigKill(Who::Target),
        16..=31 => Action::SigKill(Who::Movahv),
        32..=56 => {
            let who = rng.pick(&[Who::Source, Who::Target, Who::Movahv]);
            // Mostly short; sometimes past the 5 s `movahv` waits for an answer.
            let pause = if rng.chance(80) {
                rng.millis(10, 1500)
            } else {
                rng.millis(5200, 7000)
            };
            Action::Stop(who, pause)
        }
        _ => {
            let meddle = rng.pick(&[
                Meddle::Resume,
                Meddle::Resume,
                Meddle::Resume,
                Meddle::Interrupt,
                Meddle::Interrupt,
                Meddle::Rstate,
                Meddle::Rstate,
                Meddle::Kill,
            ]);
            Action::Meddle(meddle, vm(rng))
        }
    }
}

/// A fault at an exact point of the protocol: mostly the ones that leave the source in doubt
/// (`movahv` killed or stopped, a target stopped past the answer wait) or meddle with it.
fn trigger_action(rng: &mut Rng) -> Action {
    let vm = |rng: &mut Rng| rng.pick(&[Who::Source, Who::Target]);
    match rng.range(0, 99) {
        0..=29 => Action::SigKill(Who::Movahv),
        30..=54 => Action::Meddle(Meddle::Resume, vm(rng)),
        55..=74 => {
            let who = rng.pick(&[Who::Source, Who::Target, Who::Movahv]);
            let pause = if rng.chance(50) {
                rng.millis(10, 1500)
            } else {
                rng.millis(5200, 7000)
            };
            Action::Stop(who, pause)
        }
        75..=84 => Action::SigKill(Who::Target),
        85..=94 => Action::SigKill(Who::Source),
        _ => Action::Meddle(
            rng.pick(&[Meddle::Interrupt, Meddle::Rstate, Meddle::Kill]),
            vm(rng),
        ),
    }
}

/// A request kind's name, for the tallies and the log.
fn kind_name(kind: u8) -> &'static str {
    match kind {
        INFO => "Info",
        SAVE => "Save",
        RESTORE => "Restore",
        HOLD => "Hold",
        COMMIT => "Commit",
        OUTCOME => "Outcome",
        SETTLE => "Settle",
        STOP => "Stop",
        RESUME => "Resume",
        _ => "another request",
    }
}

/// A rule's fault, for the tallies.
fn fault_name(fault: Fault) -> &'static str {
    match fault {
        Fault::Cut => "proxy: connection cut",
        Fault::Kill => "proxy: VM killed (SIGKILL)",
        Fault::Delay(pause) if pause >= Duration::from_secs(5) => {
            "proxy: delay past the 5 s answer wait"
        }
        Fault::Delay(_) => "proxy: short delay",
        Fault::Swallow => "proxy: request lost",
        Fault::Partition(_) => "proxy: partition",
    }
}

// ---------------------------------------------------------------------------------------------
// Tallies.

/// What the trials did, summed.
#[derive(Clone, Debug, Default)]
struct Tally {
    trials: u64,
    /// Faults injected (not merely planned), by kind.
    faults: BTreeMap<String, u64>,
    migrations: u64,
    completed: u64,
    failed: u64,
    /// Migrations whose `movahv` the test killed.
    interrupted: u64,
    /// VMs in doubt that `movahv resume` settled and ran again.
    resumed: u64,
    /// Superseded (or stale) VMs stopped with `movahv kill`.
    stopped_stale: u64,
    /// `movahv resume --force` given (the target killed at the moment it took the state).
    forced: u64,
    /// `movahv resume --force` given because `migrate` said the target never ran the state.
    forced_as_advised: u64,
    /// Rescue files restored.
    rescued: u64,
    /// Trials whose computation a fault legitimately ended (its holder killed).
    ended: u64,
    violations: u64,
}

impl Tally {
    fn fault(&mut self, name: &str) {
        *self.faults.entry(name.to_owned()).or_default() += 1;
    }

    fn add(&mut self, other: &Tally) {
        self.trials += other.trials;
        for (name, count) in &other.faults {
            *self.faults.entry(name.clone()).or_default() += count;
        }
        self.migrations += other.migrations;
        self.completed += other.completed;
        self.failed += other.failed;
        self.interrupted += other.interrupted;
        self.resumed += other.resumed;
        self.stopped_stale += other.stopped_stale;
        self.forced += other.forced;
        self.forced_as_advised += other.forced_as_advised;
        self.rescued += other.rescued;
        self.ended += other.ended;
        self.violations += other.violations;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let faults: u64 = self.faults.values().sum();
        writeln!(f, "trials: {}", self.trials)?;
        writeln!(f, "faults injected: {faults}")?;
        for (name, count) in &self.faults {
            writeln!(f, "  {name}: {count}")?;
        }
        writeln!(
            f,
            "migrations: {} ({} completed, {} failed, {} with movahv killed)",
            self.migrations, self.completed, self.failed, self.interrupted
        )?;
        writeln!(
            f,
            "settled: {} resumed from doubt, {} stale copies stopped, {} --force as migrate \
             advised, {} --force after a target died taking the state, {} rescue files \
             restored; {} trials' computation ended by a kill",
            self.resumed,
            self.stopped_stale,
            self.forced_as_advised,
            self.forced,
            self.rescued,
            self.ended
        )?;
        write!(f, "violations: {}", self.violations)
    }
}

// ---------------------------------------------------------------------------------------------
// The world of one trial.

/// Sends signal `name` (`STOP`, `CONT`) to `pid`; whether it was delivered.
fn signal(pid: u32, name: &str) -> bool {
    Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A VM of the trial, behind its proxy for its whole life (a source in doubt names its target by
/// the proxy's address, so the address must not change).
struct Node {
    vm: Vm,
    proxy: Proxy,
    /// Whether it may ever have held the computation: the first source, a rescued VM, and every
    /// VM a migration was aimed at.
    may_hold: bool,
    /// Whether the test ended it (SIGKILL, or a meddling `movahv kill` that succeeded).
    killed: bool,
}

/// A `movahv` running in the background, its output going to files.
struct Hv {
    what: String,
    child: ChildGuard,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
    bound: Duration,
}

/// How a `movahv` command ended.
#[derive(Debug)]
struct Said {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Said {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// One trial's VMs, commands and findings. SIGSTOPped processes are continued and every child
/// killed however the trial ends.
struct World {
    sandbox: Sandbox,
    nodes: Vec<Node>,
    commands: u64,
    stopped: Vec<u32>,
    started: Instant,
    log: Arc<Mutex<Vec<String>>>,
    tally: Tally,
    violations: Vec<String>,
    /// Values that may print twice: what a dead target printed after the hand-off that a forced
    /// source (or a restored rescue file) then runs again.
    repeatable: Vec<i64>,
    rescues_seen: Vec<String>,
    /// What the last step's `movahv migrate`s told the user to run.
    advice: Vec<Advice>,
}

/// A command a failed migration names to settle its source.
#[derive(Clone, Copy, Debug)]
enum Advice {
    /// `movahv resume FROM` once the target can be asked.
    Resume(usize),
    /// `movahv resume FROM --force`, "the target never ran the state": the node, and the target
    /// its hand-off must name.
    Force(usize, usize),
}

impl Drop for World {
    fn drop(&mut self) {
        for pid in self.stopped.drain(..) {
            signal(pid, "CONT");
        }
    }
}

impl World {
    fn new(index: u64, log: Arc<Mutex<Vec<String>>>) -> World {
        let sandbox = Sandbox::new(&format!("chaos-{index}"));
        sandbox.compile("loop.mvb", FAST_LOOP);
        World {
            sandbox,
            nodes: Vec::new(),
            commands: 0,
            stopped: Vec::new(),
            started: Instant::now(),
            log,
            tally: Tally::default(),
            violations: Vec::new(),
            repeatable: Vec::new(),
            rescues_seen: Vec::new(),
            advice: Vec::new(),
        }
    }

    fn note(&self, message: String) {
        let at = self.started.elapsed().as_millis();
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{at:>6} ms  {message}"));
    }

    fn violation(&mut self, message: String) {
        self.note(format!("VIOLATION: {message}"));
        self.violations.push(message);
    }

    /// Starts `mova ARGS` behind a proxy.
    fn add(&mut self, args: &[&str], may_hold: bool) -> usize {
        let vm = self.sandbox.start(args);
        let proxy = Proxy::before(&self.sandbox, &vm, None);
        self.note(format!("started {}", vm.name));
        self.nodes.push(Node {
            vm,
            proxy,
            may_hold,
            killed: false,
        });
        self.nodes.len() - 1
    }

    fn node_of(&self, pid: u64) -> Option<usize> {
        self.nodes
            .iter()
            .position(|node| u64::from(node.vm.pid) == pid)
    }

    fn alive(&self, node: usize) -> bool {
        runtime::alive(self.nodes[node].vm.pid)
    }

    /// Kills a VM with SIGKILL (it stays a zombie until the trial ends, so its pid is never
    /// reused under the test's feet).
    fn sigkill(&mut self, node: usize, why: &str) -> bool {
        if !self.alive(node) {
            return false;
        }
        common::proxy::kill(self.nodes[node].vm.pid);
        self.nodes[node].killed = true;
        self.note(format!("SIGKILL {} ({why})", self.nodes[node].vm.name));
        true
    }

    /// Starts `movahv ARGS` in the background.
    fn spawn(&mut self, args: &[String], bound: Duration) -> Hv {
        self.commands += 1;
        let stdout = self.sandbox.path(&format!("movahv-{}.out", self.commands));
        let stderr = self.sandbox.path(&format!("movahv-{}.err", self.commands));
        let mut command = Command::new(MOVAHV);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        self.sandbox.isolate(&mut command);
        let child = ChildGuard(command.spawn().unwrap());
        let what = format!("movahv {} [{}]", args.join(" "), child.0.id());
        self.note(format!("run {what}"));
        Hv {
            what,
            child,
            stdout,
            stderr,
            started: Instant::now(),
            bound,
        }
    }

    /// Waits for a background `movahv` (killing it if it outlasts its bound: a hang) and checks
    /// that it did not panic.
    fn wait(&mut self, mut hv: Hv) -> Said {
        let status = loop {
            if let Some(status) = hv.child.0.try_wait().unwrap() {
                break status;
            }
            if hv.started.elapsed() > hv.bound {
                let _ = hv.child.0.kill();
                let status = hv.child.0.wait().unwrap();
                self.violation(format!("`{}` hung: killed after {:?}", hv.what, hv.bound));
                break status;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let said = Said {
            code: status.code(),
            signal: status.signal(),
            stdout: std::fs::read_to_string(&hv.stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&hv.stderr).unwrap_or_default(),
        };
        self.note(format!(
            "`{}` ended {:?}/{:?}: {}{}",
            hv.what,
            said.code,
            said.signal,
            said.stdout.trim_end(),
            said.stderr.trim_end()
        ));
        if said.code == Some(101) || said.stderr.contains("panicked") {
            self.violation(format!("`{}` panicked: {said:?}", hv.what));
        }
        said
    }

    /// Runs `movahv ARGS` to completion.
    fn run(&mut self, args: &[String]) -> Said {
        let hv = self.spawn(args, COMMAND_BOUND);
        self.wait(hv)
    }

    fn run_on(&mut self, command: &str, node: usize, extra: &[&str]) -> Said {
        let mut args = vec![command.to_owned(), self.nodes[node].vm.id()];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        self.run(&args)
    }

    /// `movahv ps --json`.
    fn ps(&mut self) -> Vec<Value> {
        let said = self.run(&["ps".to_owned(), "--json".to_owned()]);
        match serde_json::from_str(&said.stdout) {
            Ok(Value::Array(entries)) if said.ok() => entries,
            _ => {
                self.violation(format!("`movahv ps --json` failed: {said:?}"));
                Vec::new()
            }
        }
    }

    /// The VM that holds the computation as a step begins: the one that owns it (running or
    /// paused), else one that has it in doubt or pending.
    fn holder(&mut self) -> Option<usize> {
        let entries = self.ps();
        let with = |states: &[&str]| {
            entries
                .iter()
                .find(|entry| states.iter().any(|state| entry["state"] == *state))
                .and_then(|entry| entry["pid"].as_u64())
        };
        with(&["running", "paused"])
            .or_else(|| with(&["in doubt", "restored"]))
            .and_then(|pid| self.node_of(pid))
    }

    /// The blank VMs, by `ps`.
    fn blanks(&mut self) -> Vec<usize> {
        let entries = self.ps();
        entries
            .iter()
            .filter(|entry| entry["state"] == "waiting" && entry["held"] == false)
            .filter_map(|entry| entry["pid"].as_u64())
            .filter_map(|pid| self.node_of(pid))
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // A step: migrations with faults.

    /// Runs a step; returns the sources of its migrations.
    fn run_step(&mut self, number: usize, step: &StepPlan) -> Vec<usize> {
        // Advice not followed at once is lost, as the user moved on.
        self.advice.clear();
        let Some(holder) = self.holder() else {
            self.note(format!(
                "step {number}: no VM holds the computation any more; skipped"
            ));
            return Vec::new();
        };
        let mut blanks = self.blanks();
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for migration in &step.migrations {
            let from = match migration.from {
                From::Holder => holder,
                From::FirstTarget => pairs.first().map_or(holder, |(_, to)| *to),
            };
            let to = match migration.to {
                To::Any => {
                    let others: Vec<usize> = (0..self.nodes.len())
                        .filter(|&node| node != from && self.alive(node))
                        .collect();
                    pick(&others, migration.pick)
                }
                To::Blank => {
                    blanks.retain(|&node| node != from);
                    pick(&blanks, migration.pick)
                }
            };
            let to = match to {
                Some(to) => to,
                None => self.add(&["serve"], false),
            };
            blanks.retain(|&node| node != to);
            self.nodes[to].may_hold = true;
            pairs.push((from, to));
        }

        // Arm the rules (a VM in two migrations of the step keeps the later one's).
        for node in &self.nodes {
            node.proxy.disarm();
        }
        let mut armed: BTreeMap<usize, (Rule, usize)> = BTreeMap::new();
        for (index, (migration, &(from, to))) in step.migrations.iter().zip(&pairs).enumerate() {
            for (node, rule) in [(from, migration.source_rule), (to, migration.target_rule)] {
                if let Some(rule) = rule {
                    self.nodes[node].proxy.arm(rule);
                    armed.insert(node, (rule, index));
                }
            }
        }
        self.note(format!(
            "step {number}: migrations {:?}, rules {:?}",
            pairs
                .iter()
                .map(|&(from, to)| (self.nodes[from].vm.pid, self.nodes[to].vm.pid))
                .collect::<Vec<_>>(),
            armed
                .iter()
                .map(|(&node, (rule, _))| (self.nodes[node].vm.pid, kind_name(rule.kind), rule))
                .collect::<Vec<_>>()
        ));
        // A trigger acts the moment its migration's delay rule strikes (if that rule is still
        // the one armed on its VM).
        let mut triggers: Vec<(usize, usize, Action)> = Vec::new();
        for (index, (migration, &(from, to))) in step.migrations.iter().zip(&pairs).enumerate() {
            if let Some((side, action)) = migration.trigger {
                let node = if side == Who::Source { from } else { to };
                if armed.get(&node).is_some_and(|&(_, owner)| owner == index) {
                    triggers.push((index, node, action));
                }
            }
        }

        // The timeline: starts, timed faults, and the SIGCONTs their pauses end with.
        let mut events: Vec<(Duration, Event)> = Vec::new();
        for (index, migration) in step.migrations.iter().enumerate() {
            events.push((migration.start, Event::Start(index)));
            for &(at, action) in &migration.timed {
                events.push((migration.start + at, Event::Act(index, action)));
            }
        }
        let mut timeline = Timeline {
            pairs,
            running: step.migrations.iter().map(|_| None).collect(),
            meddles: Vec::new(),
            events,
            began: Instant::now(),
        };
        loop {
            let now = timeline.began.elapsed();
            if let Some(due) = (0..timeline.events.len())
                .filter(|&index| timeline.events[index].0 <= now)
                .min_by_key(|&index| timeline.events[index].0)
            {
                let (at, event) = timeline.events.remove(due);
                self.happen(&mut timeline, at, event);
                continue;
            }
            if let Some(struck) = triggers
                .iter()
                .position(|&(_, node, _)| self.nodes[node].proxy.fired())
            {
                let (index, node, action) = triggers.remove(struck);
                self.note(format!(
                    "trigger: the rule on {} struck",
                    self.nodes[node].vm.name
                ));
                self.happen(&mut timeline, now, Event::Act(index, action));
                continue;
            }
            let migrating = timeline.running.iter_mut().any(|hv| {
                hv.as_mut()
                    .is_some_and(|hv| hv.child.0.try_wait().unwrap().is_none())
            });
            if timeline.events.is_empty() && (triggers.is_empty() || !migrating) {
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
        let Timeline {
            pairs,
            running,
            meddles,
            ..
        } = timeline;

        // Every process runs again: wait for every command.
        for (index, hv) in running.into_iter().enumerate() {
            let Some(hv) = hv else { continue };
            let said = self.wait(hv);
            let (from, to) = pairs[index];
            // The user acts on what `movahv` said only where its words can name this migration
            // alone: no other migration of the step has the same source and target.
            let alone = pairs.iter().filter(|&&pair| pair == (from, to)).count() == 1;
            let pid = self.nodes[from].vm.id();
            // What the failure said, as data (`--json`): a source in doubt that `movahv resume`
            // settles once the target can be asked, or one that `--force` runs again because
            // the target never ran the state.
            let failure: Option<Value> = serde_json::from_str(&said.stdout)
                .ok()
                .filter(|report: &Value| report["error"].is_string());
            if let Some(failure) = failure.filter(|_| alone) {
                if failure["kind"] == "in-doubt" {
                    self.advice.push(Advice::Resume(from));
                }
                if failure["settle"] == format!("movahv resume {pid} --force").as_str() {
                    self.advice.push(Advice::Force(from, to));
                }
            }
            match (said.code, said.signal) {
                (Some(0), _) => self.tally.completed += 1,
                (_, Some(_)) => self.tally.interrupted += 1,
                (Some(1), _) => self.tally.failed += 1,
                _ => self.violation(format!("`movahv migrate` ended unexpectedly: {said:?}")),
            }
        }
        for (meddle, node, hv) in meddles {
            let said = self.wait(hv);
            if meddle == Meddle::Kill && self.stopped_by_kill(node, &said) {
                self.nodes[node].killed = true;
            }
            if !matches!(said.code, Some(0 | 1)) {
                self.violation(format!("a meddling `movahv` ended unexpectedly: {said:?}"));
            }
        }
        for (&node, (rule, _)) in &armed {
            if self.nodes[node].proxy.fired() {
                self.tally.fault(fault_name(rule.fault));
                self.note(format!(
                    "{:?} at {} {:?} struck {}",
                    rule.fault,
                    kind_name(rule.kind),
                    rule.when,
                    self.nodes[node].vm.name
                ));
                if rule.fault == Fault::Kill {
                    self.nodes[node].killed = true;
                }
            }
        }
        // Rules live for their step only.
        for node in &self.nodes {
            node.proxy.disarm();
        }
        pairs.iter().map(|&(from, _)| from).collect()
    }

    /// Makes one event of a step's timeline happen.
    fn happen(&mut self, timeline: &mut Timeline, at: Duration, event: Event) {
        match event {
            Event::Start(index) => {
                let (from, to) = timeline.pairs[index];
                let args = [
                    "migrate".to_owned(),
                    self.nodes[from].vm.id(),
                    self.nodes[to].vm.id(),
                    "--json".to_owned(),
                ];
                timeline.running[index] = Some(self.spawn(&args, MIGRATE_BOUND));
                self.tally.migrations += 1;
            }
            Event::Act(index, action) => self.act(timeline, at, index, action),
            Event::Cont(pid) => {
                signal(pid, "CONT");
                self.stopped.retain(|&stopped| stopped != pid);
                self.note(format!("SIGCONT {pid}"));
            }
        }
    }

    /// Injects a fault into migration `index` at `at` in its step.
    fn act(&mut self, timeline: &mut Timeline, at: Duration, index: usize, action: Action) {
        let (from, to) = timeline.pairs[index];
        let vm = |who: Who| if who == Who::Source { from } else { to };
        match action {
            Action::SigKill(who @ (Who::Source | Who::Target)) => {
                if self.sigkill(vm(who), "a fault") {
                    self.tally.fault(if who == Who::Source {
                        "SIGKILL of the source"
                    } else {
                        "SIGKILL of the target"
                    });
                }
            }
            Action::SigKill(Who::Movahv) => {
                if let Some(hv) = timeline.running[index].as_mut()
                    && hv.child.0.try_wait().unwrap().is_none()
                {
                    let _ = hv.child.0.kill();
                    self.note(format!("SIGKILL `{}`", hv.what));
                    self.tally.fault("SIGKILL of movahv");
                }
            }
            Action::Stop(who, pause) => {
                let pid = match who {
                    Who::Movahv => timeline.running[index].as_mut().and_then(|hv| {
                        let alive = hv.child.0.try_wait().unwrap().is_none();
                        alive.then(|| hv.child.0.id())
                    }),
                    Who::Source | Who::Target => {
                        Some(self.nodes[vm(who)].vm.pid).filter(|&pid| runtime::alive(pid))
                    }
                };
                if let Some(pid) = pid
                    && signal(pid, "STOP")
                {
                    self.stopped.push(pid);
                    self.note(format!("SIGSTOP {pid} for {pause:?}"));
                    self.tally.fault(if who == Who::Movahv {
                        "SIGSTOP of movahv"
                    } else {
                        "SIGSTOP of a VM"
                    });
                    timeline.events.push((at + pause, Event::Cont(pid)));
                }
            }
            Action::Meddle(meddle, who) => {
                let node = vm(who);
                let id = self.nodes[node].vm.id();
                let args: Vec<String> = match meddle {
                    Meddle::Resume => vec!["resume".into(), id],
                    Meddle::Interrupt => vec!["interrupt".into(), id],
                    Meddle::Kill => vec!["kill".into(), id],
                    Meddle::Rstate => vec![
                        "rstate".into(),
                        id,
                        "--leave-running".into(),
                        "-o".into(),
                        format!("meddled-{}.mvs", self.commands),
                    ],
                };
                let hv = self.spawn(&args, COMMAND_BOUND);
                self.tally.fault(match meddle {
                    Meddle::Resume => "meddling: movahv resume",
                    Meddle::Interrupt => "meddling: movahv interrupt",
                    Meddle::Rstate => "meddling: movahv rstate --leave-running",
                    Meddle::Kill => "meddling: movahv kill",
                });
                timeline.meddles.push((meddle, node, hv));
            }
        }
    }

    /// Whether a meddling `movahv kill` stopped the VM: it said so, or, if its answer was lost,
    /// the VM logs that it was stopped by it (it logs why it stops before it exits).
    fn stopped_by_kill(&self, node: usize, said: &Said) -> bool {
        if said.ok() {
            return true;
        }
        if said.stderr.contains("another client holds this VM") {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if self.nodes[node]
                .vm
                .stderr()
                .contains("stopped: killed by movahv")
            {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Whether a VM that exited stopped because its computation moved on (`stopped: migrated
    /// to …`): a VM logs why it stops before it exits, so its standard error says so once its
    /// reader has caught up. A VM killed with SIGKILL logs nothing.
    fn moved_on(&self, node: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let said = self.nodes[node].vm.stderr();
            if said.contains("stopped: ") || Instant::now() >= deadline {
                return said.contains("stopped: migrated to");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Settling, as a user following `movahv`'s messages would.

    /// Settles the world. `sources` are resumed first, before `ps` is looked at: a user who
    /// knows which VMs a failed migration left in doubt runs `movahv resume` on them, as its
    /// messages say.
    fn settle(&mut self, sources: &[usize]) {
        for node in &self.nodes {
            node.proxy.disarm();
            node.proxy.heal();
        }
        self.follow_advice();
        for &node in sources {
            if self.alive(node) {
                self.resume(node);
            }
        }
        let deadline = Instant::now() + SETTLE_BOUND;
        let mut unsettled: Vec<String> = Vec::new();
        loop {
            if Instant::now() >= deadline {
                self.violation(format!(
                    "the VMs did not settle within {SETTLE_BOUND:?}: {unsettled:?}"
                ));
                return;
            }
            unsettled.clear();
            let entries = self.ps();
            let mut forcible = Vec::new();
            let owners = entries
                .iter()
                .filter(|entry| {
                    ["running", "paused", "restored"]
                        .iter()
                        .any(|state| entry["state"] == *state)
                })
                .count();
            for entry in &entries {
                let Some(node) = entry["pid"].as_u64().and_then(|pid| self.node_of(pid)) else {
                    self.violation(format!("`ps` lists a VM the test did not start: {entry}"));
                    continue;
                };
                let state = entry["state"].as_str().unwrap_or("?").to_owned();
                match state.as_str() {
                    "waiting" | "running" if entry["held"] != true => {}
                    "paused" if entry["held"] != true => {
                        // Paused by a meddling interrupt, or a paused computation that arrived
                        // paused: the user runs it on.
                        let said = self.run_on("resume", node, &[]);
                        if !said.ok() {
                            unsettled.push(format!("{state}: resume refused: {}", said.stderr));
                        }
                    }
                    "in doubt" => {
                        let said = self.resume(node);
                        if said.ok() {
                            // Settled and running again.
                        } else if said.stderr.contains("is superseded") {
                            self.stop_stale(node);
                        } else if said.stderr.contains("--force") {
                            // The target cannot be asked: if it lives, it will be once it
                            // answers again; if it is gone, see `settle_forcible`.
                            let target = entry["handoff"]["to_pid"]
                                .as_u64()
                                .and_then(|pid| self.node_of(pid));
                            if target.is_some_and(|target| self.alive(target)) {
                                unsettled.push(format!("in doubt, target alive: {}", said.stderr));
                            } else {
                                forcible.push((node, entry["handoff"].clone()));
                            }
                        } else {
                            unsettled.push(format!("in doubt: resume refused: {}", said.stderr));
                        }
                    }
                    "superseded" => self.stop_stale(node),
                    _ => unsettled.push(format!("{}: {state} {entry}", self.nodes[node].vm.name)),
                }
            }
            if unsettled.is_empty() && !forcible.is_empty() {
                self.settle_forcible(forcible, owners);
                continue;
            }
            if unsettled.is_empty() && forcible.is_empty() {
                if self.rescue() {
                    continue;
                }
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs what the failed migrations said to run, as a user reading their messages would,
    /// before looking at `ps` (which would settle some VMs itself). A `--force` that `movahv`
    /// said is safe must lead to no repeat: nothing is counted as repeatable for it.
    fn follow_advice(&mut self) {
        for advice in std::mem::take(&mut self.advice) {
            match advice {
                Advice::Resume(node) => {
                    if self.alive(node) {
                        self.resume(node);
                    }
                }
                Advice::Force(node, to) => {
                    // Only while the VM is still in doubt about that hand-off: a meddling
                    // `resume` may have settled it since.
                    let entries = self.ps();
                    let pid = u64::from(self.nodes[node].vm.pid);
                    let to_pid = u64::from(self.nodes[to].vm.pid);
                    let in_doubt = entries.iter().any(|entry| {
                        entry["pid"] == pid
                            && entry["state"] == "in doubt"
                            && entry["handoff"]["to_pid"] == to_pid
                    });
                    if !in_doubt {
                        continue;
                    }
                    let said = self.run_on("resume", node, &["--force"]);
                    if said.ok() {
                        self.tally.forced_as_advised += 1;
                    } else if said.stderr.contains("is superseded") {
                        // Told since that its target took the state: `migrate` said the target
                        // never would.
                        self.violation(format!(
                            "`migrate` said the target never ran the state, but {pid} is \
                             superseded: {said:?}"
                        ));
                    } else {
                        self.violation(format!(
                            "`movahv resume {pid} --force`, as `migrate` said, failed: {said:?}"
                        ));
                    }
                }
            }
        }
    }

    /// `movahv resume PID`, counting a VM it took out of doubt.
    fn resume(&mut self, node: usize) -> Said {
        let said = self.run_on("resume", node, &[]);
        if said.ok() && said.stdout.contains("it was in doubt") {
            self.tally.resumed += 1;
        }
        said
    }

    fn stop_stale(&mut self, node: usize) {
        let said = self.run_on("kill", node, &[]);
        if said.ok() {
            self.tally.stopped_stale += 1;
        } else {
            self.violation(format!(
                "`movahv kill` of a stale copy, {}, failed: {said:?}",
                self.nodes[node].vm.name
            ));
        }
    }

    /// VMs in doubt whose target cannot be asked because it is gone. If another VM owns the
    /// computation, or a target is gone without the test having killed it (it moved the
    /// computation on), these copies are stale: `movahv kill` stops them, as `resume` says. Else
    /// the one with the latest hand-off is forced, and what its dead target printed after the
    /// hand-off may print again.
    fn settle_forcible(&mut self, mut forcible: Vec<(usize, Value)>, owners: usize) {
        forcible.sort_by_key(|(_, handoff)| handoff["since_ms"].as_u64());
        let (latest, handoff) = forcible.pop().unwrap();
        let killed_target = handoff["to_pid"]
            .as_u64()
            .and_then(|pid| self.node_of(pid))
            .is_some_and(|target| self.nodes[target].killed && !self.moved_on(target));
        for (stale, _) in forcible {
            self.stop_stale(stale);
        }
        if owners > 0 || !killed_target {
            self.stop_stale(latest);
            return;
        }
        for node in &mut self.nodes {
            node.vm.read_available();
        }
        let before = self.nodes[latest].vm.values().len();
        let said = self.run_on("resume", latest, &["--force"]);
        if said.stderr.contains("is superseded") {
            // The Settle that says so reached it since `ps` looked (a delayed request): its
            // target took the state before it died, and `--force` rightly refuses.
            self.stop_stale(latest);
            return;
        }
        if !said.ok() {
            self.violation(format!("`movahv resume --force` failed: {said:?}"));
            return;
        }
        self.tally.forced += 1;
        self.account_repeat(latest, before);
    }

    /// `node` runs a computation again from where a copy was taken (a forced source, a restored
    /// rescue file): waits for its first line, and counts what VMs now gone printed from there on
    /// as printed once too often — the documented repeat.
    fn account_repeat(&mut self, node: usize, before: usize) {
        while self.nodes[node].vm.values().len() <= before {
            self.nodes[node].vm.next();
        }
        let first = self.nodes[node].vm.values()[before];
        for other in 0..self.nodes.len() {
            if other == node {
                continue;
            }
            self.nodes[other].vm.read_available();
            let again: Vec<i64> = self.nodes[other]
                .vm
                .values()
                .into_iter()
                .filter(|&value| value >= first)
                .collect();
            if again.is_empty() {
                continue;
            }
            if self.alive(other) {
                self.violation(format!(
                    "{} runs from {first} again although {} printed {} and lives",
                    self.nodes[node].vm.name,
                    self.nodes[other].vm.name,
                    brief(&again)
                ));
            }
            self.note(format!(
                "{} runs again from {first}: {}, printed by {}, may print twice",
                self.nodes[node].vm.name,
                brief(&again),
                self.nodes[other].vm.name
            ));
            self.repeatable.extend(again);
        }
    }

    /// Restores a rescue file `movahv` left, when no VM runs the computation; whether it did.
    fn rescue(&mut self) -> bool {
        let mut files: Vec<String> = std::fs::read_dir(self.sandbox.path("."))
            .unwrap()
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("movahv-rescue-"))
            .filter(|name| !self.rescues_seen.contains(name))
            .collect();
        files.sort();
        let Some(file) = files.into_iter().next() else {
            return false;
        };
        self.rescues_seen.push(file.clone());
        if !self.nodes.iter().any(|node| node.may_hold && node.killed) {
            self.violation(format!(
                "movahv wrote {file} although the test killed no VM that could hold the state"
            ));
            return false;
        }
        let owned = self
            .ps()
            .iter()
            .any(|entry| entry["state"] == "running" || entry["state"] == "paused");
        if owned {
            self.note(format!(
                "{file} left unused: a VM runs the computation (as movahv says, it runs only if \
                 none does)"
            ));
            return true;
        }
        for node in &mut self.nodes {
            node.vm.read_available();
        }
        let node = self.add(&["--restore", &file], true);
        self.tally.rescued += 1;
        self.account_repeat(node, 0);
        true
    }

    // -----------------------------------------------------------------------------------------
    // The check.

    /// Which VMs print in a window of two [`QUIET`]s.
    fn printing(&mut self) -> Vec<usize> {
        for node in &mut self.nodes {
            node.vm.read_available();
        }
        let before: Vec<usize> = self.nodes.iter().map(|node| node.vm.seen.len()).collect();
        thread::sleep(QUIET + QUIET);
        (0..self.nodes.len())
            .filter(|&node| {
                self.nodes[node].vm.read_available();
                self.nodes[node].vm.seen.len() > before[node]
            })
            .collect()
    }

    fn check(&mut self) {
        let mut printers = Vec::new();
        for round in 0..2 {
            let printing = self.printing();
            if printing.len() > 1 {
                let names: Vec<&str> = printing
                    .iter()
                    .map(|&node| self.nodes[node].vm.name.as_str())
                    .collect();
                self.violation(format!("sample {round}: {names:?} all print"));
            }
            printers.extend(printing);
        }
        if printers.is_empty() {
            if self.nodes.iter().any(|node| node.may_hold && node.killed) {
                self.tally.ended += 1;
                self.note("the computation ended: the test killed a VM that held it".into());
            } else {
                self.violation(
                    "no VM runs the computation, and the test killed none that could hold it"
                        .into(),
                );
            }
        }
        let entries = self.ps();
        for entry in &entries {
            let state = entry["state"].as_str().unwrap_or("?");
            if !matches!(state, "running" | "waiting") || entry["held"] != false {
                self.violation(format!("left unsettled: {entry}"));
            }
        }

        // Stop everything and read every line.
        for node in 0..self.nodes.len() {
            if self.alive(node) {
                common::proxy::kill(self.nodes[node].vm.pid);
            }
            self.nodes[node].vm.read_to_end();
        }
        let mut all = Vec::new();
        for node in &self.nodes {
            let values = node.vm.values();
            if let Some(&first) = values.first() {
                let expected: Vec<i64> = (first..).take(values.len()).collect();
                if values != expected {
                    let message = format!(
                        "{} printed {}: not consecutive",
                        node.vm.name,
                        brief(&values)
                    );
                    self.violations.push(message.clone());
                    self.note(format!("VIOLATION: {message}"));
                }
            }
            all.extend(values);
        }
        all.sort_unstable();
        for value in std::mem::take(&mut self.repeatable) {
            match all.binary_search(&value) {
                Ok(at) => {
                    all.remove(at);
                }
                Err(_) => self.violation(format!("{value} was to print twice but never did")),
            }
        }
        let expected: Vec<i64> = (1..).take(all.len()).collect();
        if all != expected {
            let repeats: Vec<i64> = all
                .windows(2)
                .filter(|w| w[0] == w[1])
                .map(|w| w[0])
                .collect();
            let gaps: Vec<(i64, i64)> = all
                .windows(2)
                .filter(|w| w[1] > w[0] + 1)
                .map(|w| (w[0], w[1]))
                .collect();
            self.violation(format!(
                "the output of all VMs is not 1, 2, 3, …: repeated {}, gaps after/before {gaps:?}, \
                 starts at {:?}",
                brief(&repeats),
                all.first()
            ));
        }
        let left: Vec<String> = std::fs::read_dir(self.sandbox.path("."))
            .unwrap()
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("movahv-rescue-") && !self.rescues_seen.contains(name))
            .collect();
        if !left.is_empty() {
            self.violation(format!("rescue files left unexamined: {left:?}"));
        }
        self.note(format!("checked: {} values in all", all.len()));
    }
}

/// What happens in a step, in time order.
enum Event {
    Start(usize),
    Act(usize, Action),
    Cont(u32),
}

/// A step as it unfolds: its migrations' VMs and `movahv`s, the meddling commands sent, and the
/// events still to come (from `began`).
struct Timeline {
    pairs: Vec<(usize, usize)>,
    running: Vec<Option<Hv>>,
    meddles: Vec<(Meddle, usize, Hv)>,
    events: Vec<(Duration, Event)>,
    began: Instant,
}

/// A list of values as a failure message shows it: the first dozen, and how many in all.
fn brief(values: &[i64]) -> String {
    if values.len() <= 12 {
        return format!("{values:?}");
    }
    format!("{:?}… ({} in all)", &values[..12], values.len())
}

/// The `pick`-th of `candidates`, if any.
fn pick(candidates: &[usize], pick: u64) -> Option<usize> {
    let count = u64::try_from(candidates.len()).unwrap();
    (count > 0).then(|| candidates[usize::try_from(pick % count).unwrap()])
}

// ---------------------------------------------------------------------------------------------
// Trials.

/// How one trial went.
struct Outcome {
    tally: Tally,
    violations: Vec<String>,
}

fn trial(seed: u64, index: u64, log: &Arc<Mutex<Vec<String>>>) -> Outcome {
    let plan = plan(&mut Rng::for_trial(seed, index));
    let mut world = World::new(index, Arc::clone(log));
    world.note(format!("plan: {plan:?}"));
    world.tally.trials = 1;
    let source = world.add(&["loop.mvb"], true);
    for _ in 0..plan.blanks {
        world.add(&["serve"], false);
    }
    world.nodes[source].vm.take(3);
    for (number, step) in plan.steps.iter().enumerate() {
        let sources = world.run_step(number, step);
        if step.settle_after || number + 1 == plan.steps.len() {
            world.settle(if step.resume_first { &sources } else { &[] });
        }
    }
    world.check();
    world.tally.violations = u64::try_from(world.violations.len()).unwrap();
    Outcome {
        tally: world.tally.clone(),
        violations: std::mem::take(&mut world.violations),
    }
}

/// The run's settings, from the environment.
#[derive(Debug)]
struct Config {
    seed: u64,
    first: u64,
    trials: Option<u64>,
    seconds: u64,
    jobs: u64,
    /// Print every trial's log, not only a failing one's.
    verbose: bool,
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|error| panic!("{name}={text:?} is not a number: {error}")))
}

impl Config {
    fn from_env() -> Config {
        Config {
            seed: env_number("MOVA_CHAOS_SEED").unwrap_or(DEFAULT_SEED),
            first: env_number("MOVA_CHAOS_FIRST").unwrap_or(0),
            trials: env_number("MOVA_CHAOS_TRIALS"),
            seconds: env_number("MOVA_CHAOS_SECONDS").unwrap_or(DEFAULT_SECONDS),
            jobs: env_number("MOVA_CHAOS_JOBS").unwrap_or(DEFAULT_JOBS).max(1),
            verbose: env_number("MOVA_CHAOS_VERBOSE").is_some_and(|verbose| verbose != 0),
        }
    }
}

/// Random faults at random moments across many migrations; see the module's documentation.
#[test]
fn migrations_survive_seeded_chaos() {
    let config = Config::from_env();
    let budget = Duration::from_secs(config.seconds);
    println!("chaos: {config:?}");
    let next = AtomicU64::new(config.first);
    let total = Mutex::new(Tally::default());
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..config.jobs {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let done = match config.trials {
                        Some(trials) => index >= config.first + trials,
                        None => started.elapsed() >= budget,
                    };
                    if done {
                        return;
                    }
                    let log = Arc::new(Mutex::new(Vec::new()));
                    let outcome =
                        catch_unwind(AssertUnwindSafe(|| trial(config.seed, index, &log)));
                    let outcome = outcome.unwrap_or_else(|panic| {
                        let reason = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_else(|| String::from("a panic"));
                        Outcome {
                            tally: Tally {
                                trials: 1,
                                violations: 1,
                                ..Tally::default()
                            },
                            violations: vec![format!("the trial panicked: {reason}")],
                        }
                    });
                    if config.verbose {
                        let log = log
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .join("\n");
                        println!("chaos: trial {index}:\n{log}");
                    }
                    if !outcome.violations.is_empty() {
                        let log = log
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .join("\n");
                        let report = format!(
                            "chaos: trial {index} of seed {:#x} failed: {:?}\nreplay it with \
                             MOVA_CHAOS_SEED={:#x} MOVA_CHAOS_FIRST={index} MOVA_CHAOS_TRIALS=1 \
                             cargo test -p mova-hypervisor --test chaos -- --nocapture\n{log}",
                            config.seed, outcome.violations, config.seed
                        );
                        eprintln!("{report}");
                        failures
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(report);
                    }
                    total
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .add(&outcome.tally);
                }
            });
        }
    });
    let total = total.into_inner().unwrap_or_else(PoisonError::into_inner);
    println!(
        "chaos: seed {:#x}, {:.0} s\n{total}",
        config.seed,
        started.elapsed().as_secs_f64()
    );
    let failures = failures
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    assert!(
        failures.is_empty(),
        "{} of {} trials failed (seed {:#x}):\n{}",
        failures.len(),
        total.trials,
        config.seed,
        failures.join("\n\n")
    );
}
