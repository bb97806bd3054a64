//! `movahv ps`: the VMs on this host, from their runtime records and what each says of itself.
//!
//! Every VM is asked at once, each on a thread of its own, and `ps` waits for the answers until
//! one deadline ([`DEADLINE`]) for them all. A VM that accepted the connection but did not answer
//! by then (stopped with SIGSTOP or Ctrl-Z: the kernel still completes the TCP handshake) is
//! shown as `not answering`; one that could not be reached or refused is `unreachable`.

use crate::{HvError, Target, migrate, warn};
use mova_vm::client::Client;
use mova_vm::protocol::{VmInfo, VmState};
use mova_vm::runtime::{self, Record};
use serde_json::{Map, Value};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long `ps` waits for all the VMs' answers together. A VM answers `Info` between two
/// instructions, within milliseconds; a second is long for it and short for a person.
pub const DEADLINE: Duration = Duration::from_secs(1);

/// What a VM said when `ps` asked it.
#[derive(Clone, Debug)]
pub enum Answer {
    Info(VmInfo),
    /// It could not be reached, or it refused: why.
    Unreachable(String),
    /// It said nothing before the deadline.
    NotAnswering,
}

/// One VM as `ps` shows it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub record: Record,
    pub answer: Answer,
}

impl Entry {
    fn info(&self) -> Option<&VmInfo> {
        match &self.answer {
            Answer::Info(info) => Some(info),
            Answer::Unreachable(_) | Answer::NotAnswering => None,
        }
    }
}

/// Lists the VMs of this host (pruning records of dead ones, warning about files that are not
/// records) and asks each for its state, all within [`DEADLINE`].
pub fn list() -> Result<Vec<Entry>, HvError> {
    let dir = runtime::runtime_dir()?;
    let listing = runtime::list(&dir);
    for skipped in &listing.skipped {
        warn(skipped);
    }
    let deadline = Instant::now() + DEADLINE;
    let mut answers: Vec<Option<Answer>> = vec![None; listing.records.len()];
    let (sender, receiver) = mpsc::channel();
    for (index, record) in listing.records.iter().enumerate() {
        let sender = sender.clone();
        let record = record.clone();
        // A thread still waiting at the deadline is left behind: nothing waits for it, its socket
        // times out on its own (the client's timeouts), and `movahv` may exit under it.
        let spawned = thread::Builder::new()
            .name(format!("ps-{}", record.pid))
            .spawn(move || {
                let ask = || Client::to_record(&record).and_then(|mut client| client.info());
                let mut asked = ask();
                // A VM left in doubt by a migration that did not finish learns whether its target
                // took the state (the target is only asked, never changed), so that a stale copy
                // shows as superseded.
                if let Ok(info) = &asked
                    && let VmState::InDoubt(handoff) = &info.state
                    && migrate::supersede_if_taken(
                        &migrate::Side {
                            target: Target::Pid(record.pid),
                            remote: crate::Remote::default(),
                        },
                        handoff,
                    )
                {
                    asked = ask();
                }
                let answer = match asked {
                    Ok(info) => Answer::Info(info),
                    Err(error) => Answer::Unreachable(error.to_string()),
                };
                let _ = sender.send((index, answer));
            });
        if let Err(error) = spawned {
            answers[index] = Some(Answer::Unreachable(format!(
                "cannot start a thread to ask it: {error}"
            )));
        }
    }
    drop(sender);
    while answers.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok((index, answer)) => {
                if let Some(slot) = answers.get_mut(index) {
                    *slot = Some(answer);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(listing
        .records
        .into_iter()
        .zip(answers)
        .map(|(record, answer)| Entry {
            record,
            answer: answer.unwrap_or(Answer::NotAnswering),
        })
        .collect())
}

/// The state `ps` shows for a VM that did not say one.
fn silent_state(answer: &Answer) -> Option<&'static str> {
    match answer {
        Answer::Info(_) => None,
        Answer::Unreachable(_) => Some("unreachable"),
        Answer::NotAnswering => Some("not answering"),
    }
}

/// The entries as a JSON array (one object per VM).
pub fn to_json(entries: &[Entry]) -> String {
    let values: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut value = match &entry.answer {
                Answer::Info(info) => info.to_json(),
                Answer::Unreachable(error) => Map::from_iter([
                    ("state".into(), silent_state(&entry.answer).into()),
                    ("error".into(), error.as_str().into()),
                ]),
                Answer::NotAnswering => Map::from_iter([
                    ("state".into(), silent_state(&entry.answer).into()),
                    (
                        "error".into(),
                        format!("no answer within {} ms", DEADLINE.as_millis()).into(),
                    ),
                ]),
            };
            value.insert("pid".into(), entry.record.pid.into());
            value.insert("addr".into(), entry.record.addr.to_string().into());
            value.insert("port".into(), entry.record.addr.port().into());
            value.insert("program".into(), entry.record.program.clone().into());
            Value::Object(value)
        })
        .collect();
    Value::Array(values).to_string()
}

/// The entries as a table.
pub fn to_table(entries: &[Entry]) -> String {
    let mut rows = vec![[
        "PID".to_owned(),
        "PORT".to_owned(),
        "STATE".to_owned(),
        "IP".to_owned(),
        "STACK".to_owned(),
        "UPTIME".to_owned(),
        "PROGRAM".to_owned(),
    ]];
    for entry in entries {
        let info = entry.info();
        let loaded = info.and_then(|info| info.loaded.as_ref());
        let field = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let state = match (info, silent_state(&entry.answer)) {
            // A VM in the middle of someone's save, restore or migration says so.
            (Some(info), _) if info.held => format!("{} (held)", info.state),
            (Some(info), _) => info.state.to_string(),
            (None, state) => state.unwrap_or("?").to_owned(),
        };
        let uptime = info.map_or_else(|| "-".to_owned(), |info| duration(info.uptime_ms));
        // A blank VM that received a program shows where that program came from, if it knows.
        let program = match loaded.and_then(|loaded| loaded.source.as_ref()) {
            // The name comes from the source map of whatever image the VM received.
            Some(source) if entry.record.program == "(serve)" => {
                format!("(serve) {}", crate::inspect::printable(source))
            }
            Some(_) | None => entry.record.program.clone(),
        };
        rows.push([
            entry.record.pid.to_string(),
            entry.record.addr.port().to_string(),
            state,
            field(loaded.map(|loaded| u64::from(loaded.ip))),
            field(loaded.map(|loaded| loaded.stack_depth)),
            uptime,
            program,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                if column == 6 {
                    cell.clone()
                } else {
                    format!("{cell:<width$}", width = widths[column])
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A duration in milliseconds as `3h02m`, `5m07s` or `12.3s`.
fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{:.1}s", ms as f64 / 1000.0),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mova_vm::protocol::Loaded;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(1234), "1.2s");
        assert_eq!(duration(307_000), "5m07s");
        assert_eq!(duration(10_920_000), "3h02m");
    }

    #[test]
    fn a_received_program_s_source_is_shown_without_escape_sequences() {
        let entry = Entry {
            record: Record {
                pid: 1,
                addr: ([127, 0, 0, 1], 4000).into(),
                program: "(serve)".into(),
                started_ms: 0,
                token: String::new(),
                fingerprint: None,
            },
            answer: Answer::Info(VmInfo {
                pid: 1,
                addr: "127.0.0.1:4000".into(),
                program: "(serve)".into(),
                started_ms: 0,
                state: VmState::Paused,
                held: false,
                restores: 1,
                loaded: Some(Loaded {
                    ip: 0,
                    stack_depth: 0,
                    instructions: 1,
                    program_hash: String::new(),
                    source: Some("\u{1b}]0;owned\u{7}x.mova".into()),
                }),
                uptime_ms: 0,
                now_ms: 0,
            }),
        };
        let table = to_table(&[entry]);
        assert!(
            table.ends_with("  (serve) \\u{1b}]0;owned\\u{7}x.mova\n"),
            "{table:?}"
        );
    }

    #[test]
    fn the_table_shows_each_state_and_a_hold() {
        let entry = |pid: u32, answer: Answer| Entry {
            record: Record {
                pid,
                addr: ([127, 0, 0, 1], 4000).into(),
                program: "loop.mvb".into(),
                started_ms: 0,
                token: String::new(),
                fingerprint: None,
            },
            answer,
        };
        let info = |state, held| VmInfo {
            pid: 1,
            addr: "127.0.0.1:4000".into(),
            program: "loop.mvb".into(),
            started_ms: 0,
            state,
            held,
            restores: 0,
            loaded: Some(Loaded {
                ip: 3,
                stack_depth: 1,
                instructions: 5,
                program_hash: String::new(),
                source: None,
            }),
            uptime_ms: 1234,
            now_ms: 0,
        };
        let entries = [
            entry(1, Answer::Info(info(VmState::Running, false))),
            entry(2, Answer::Info(info(VmState::Paused, true))),
            entry(3, Answer::Unreachable("refused".into())),
            entry(4, Answer::NotAnswering),
        ];
        let table = to_table(&entries);
        let states: Vec<&str> = table
            .lines()
            .skip(1)
            .map(|line| {
                line.split("  ")
                    .filter(|cell| !cell.is_empty())
                    .nth(2)
                    .unwrap_or("")
            })
            .map(str::trim)
            .collect();
        assert_eq!(
            states,
            ["running", "paused (held)", "unreachable", "not answering"],
            "{table}"
        );
        let json: Value = serde_json::from_str(&to_json(&entries)).unwrap();
        let states: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["state"].as_str().unwrap())
            .collect();
        assert_eq!(
            states,
            ["running", "paused", "unreachable", "not answering"],
            "{json}"
        );
    }
}
