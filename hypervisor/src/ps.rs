//! `movahv ps`: the VMs on this host, from their runtime records and what each says of itself.

use crate::{HvError, warn};
use mova_vm::client::Client;
use mova_vm::runtime::{self, Record};
use serde_json::Value;

/// One VM as `ps` shows it.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its record.
    pub record: Record,
    /// What it answered to `info`, or why it could not be asked.
    pub info: Result<Value, String>,
}

/// Lists the VMs of this host (pruning records of dead ones, warning about files that are not
/// records) and asks each for its state.
pub fn list() -> Result<Vec<Entry>, HvError> {
    let dir = runtime::runtime_dir()?;
    let listing = runtime::list(&dir);
    for skipped in &listing.skipped {
        warn(skipped);
    }
    Ok(listing
        .records
        .into_iter()
        .map(|record| {
            let info = Client::to_record(&record)
                .and_then(|mut client| client.info())
                .map_err(|error| error.to_string());
            Entry { record, info }
        })
        .collect())
}

/// The entries as a JSON array (one object per VM).
pub fn to_json(entries: &[Entry]) -> String {
    let values: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut value = match &entry.info {
                Ok(info) => info.clone(),
                Err(error) => serde_json::json!({ "state": "unreachable", "error": error }),
            };
            value["pid"] = entry.record.pid.into();
            value["addr"] = entry.record.addr.to_string().into();
            value["port"] = entry.record.addr.port().into();
            value["program"] = entry.record.program.clone().into();
            value
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
        let field = |key: &str| match &entry.info {
            Ok(info) => info.get(key).map_or_else(|| "-".to_owned(), plain),
            Err(_) => "-".to_owned(),
        };
        let state = match &entry.info {
            // A VM in the middle of someone's save, restore or migration says so.
            Ok(info) if info.get("held") == Some(&Value::Bool(true)) => format!(
                "{} (held)",
                info.get("state").map_or_else(|| "?".to_owned(), plain)
            ),
            Ok(info) => info.get("state").map_or_else(|| "?".to_owned(), plain),
            Err(_) => "unreachable".to_owned(),
        };
        let uptime = match &entry.info {
            Ok(info) => info
                .get("uptime_ms")
                .and_then(Value::as_u64)
                .map_or_else(|| "-".to_owned(), duration),
            Err(_) => "-".to_owned(),
        };
        // A blank VM that received a program shows where that program came from, if it knows.
        let program = match entry.info.as_ref().ok().and_then(|info| info.get("source")) {
            Some(source) if entry.record.program == "(serve)" => {
                format!("(serve) {}", plain(source))
            }
            Some(_) | None => entry.record.program.clone(),
        };
        rows.push([
            entry.record.pid.to_string(),
            entry.record.addr.port().to_string(),
            state,
            field("ip"),
            field("stack_depth"),
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

fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
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

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(1234), "1.2s");
        assert_eq!(duration(307_000), "5m07s");
        assert_eq!(duration(10_920_000), "3h02m");
    }

    #[test]
    fn the_table_shows_each_state_and_a_hold() {
        let entry = |pid: u32, info: Result<Value, String>| Entry {
            record: Record {
                pid,
                addr: ([127, 0, 0, 1], 4000).into(),
                program: "loop.mvb".into(),
                started_ms: 0,
                token: String::new(),
            },
            info,
        };
        let table = to_table(&[
            entry(
                1,
                Ok(serde_json::json!({"state": "running", "held": false, "ip": 3})),
            ),
            entry(2, Ok(serde_json::json!({"state": "paused", "held": true}))),
            entry(3, Err("refused".into())),
        ]);
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
            ["running", "paused (held)", "unreachable"],
            "{table}"
        );
    }
}
