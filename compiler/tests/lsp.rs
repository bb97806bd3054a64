//! `movac lsp` driven as an editor drives it: the real process, JSON-RPC framed with
//! `Content-Length` over its standard input and output, `initialize`/`initialized`, documents
//! opened and changed, then each request. Every wait is bounded by `TIMEOUT`, and the child is
//! killed however a test ends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::wildcard_enum_match_arm
)]

use mova_testkit::{ChildGuard, TIMEOUT, assert_snapshot};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

const URI: &str = "file:///work/example.mova";

/// An editor's end of a session with `movac lsp`.
struct Client {
    child: ChildGuard,
    stdin: Option<ChildStdin>,
    /// The messages the server wrote, as they arrive.
    messages: Receiver<Value>,
    /// Notifications received while waiting for a response.
    pending: VecDeque<Value>,
    next_id: i64,
}

/// Reads framed messages from the server's standard output.
fn read_messages(output: impl Read + Send + 'static) -> Receiver<Value> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(output);
        loop {
            let mut length = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(value) = line.strip_prefix("Content-Length: ") {
                    length = value.parse::<usize>().ok();
                }
            }
            let mut body = vec![0; length.expect("a Content-Length header")];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let message: Value = serde_json::from_slice(&body).expect("a JSON message");
            assert_eq!(message["jsonrpc"], "2.0", "{message}");
            if sender.send(message).is_err() {
                return;
            }
        }
    });
    receiver
}

impl Client {
    /// Starts `movac lsp`, without initializing it.
    fn start() -> Client {
        Client::start_with(&[])
    }

    /// Starts `movac lsp` with further arguments, without initializing it.
    fn start_with(args: &[&str]) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_movac"))
            .arg("lsp")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let messages = read_messages(child.stdout.take().unwrap());
        Client {
            child: ChildGuard(child),
            stdin,
            messages,
            pending: VecDeque::new(),
            next_id: 1,
        }
    }

    /// Starts `movac lsp` and initializes it; returns the client and the server's
    /// `InitializeResult`.
    fn initialized() -> (Client, Value) {
        let mut client = Client::start();
        let result = client.request("initialize", json!({ "capabilities": {} }));
        client.notify("initialized", json!({}));
        (client, result["result"].clone())
    }

    fn write_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.write_raw(frame.as_bytes());
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The next message the server writes.
    fn next(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        self.messages
            .recv_timeout(left)
            .expect("the server answers within TIMEOUT")
    }

    /// The response to a message with `id`, keeping the notifications that come first.
    fn response(&mut self, id: &Value) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message = self.next(deadline);
            if message.get("method").is_some() {
                self.pending.push_back(message);
            } else if &message["id"] == id {
                return message;
            } else {
                panic!("a response to another request: {message}");
            }
        }
    }

    /// Sends a request and waits for its response (the whole message: `result` or `error`).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.response(&json!(id))
    }

    /// The next notification of `method`.
    fn notification(&mut self, method: &str) -> Value {
        if let Some(at) = self.pending.iter().position(|m| m["method"] == method) {
            return self.pending.remove(at).unwrap();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message = self.next(deadline);
            if message["method"] == method {
                return message;
            }
            self.pending.push_back(message);
        }
    }

    /// Opens a document and returns the diagnostics published for it.
    fn open(&mut self, text: &str) -> Value {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": URI, "languageId": "mova", "version": 1, "text": text } }),
        );
        self.notification("textDocument/publishDiagnostics")["params"].clone()
    }

    /// A request about a position in the open document; its result.
    fn at(&mut self, method: &str, line: u32, character: u32, extra: Value) -> Value {
        let mut params = json!({
            "textDocument": { "uri": URI },
            "position": { "line": line, "character": character },
        });
        if let (Some(params), Some(extra)) = (params.as_object_mut(), extra.as_object()) {
            params.extend(extra.clone());
        }
        let response = self.request(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// Shuts the server down and lets it exit; its exit code.
    fn shutdown(mut self) -> i32 {
        let response = self.request("shutdown", Value::Null);
        assert_eq!(response["result"], Value::Null, "{response}");
        self.notify("exit", Value::Null);
        self.exit_code()
    }

    fn exit_code(&mut self) -> i32 {
        let status = self
            .child
            .wait_within(TIMEOUT)
            .expect("the server exits within TIMEOUT");
        status.code().expect("an exit code")
    }
}

/// The line and UTF-16 column of the `nth` occurrence of `needle` in `text`.
fn position(text: &str, needle: &str, nth: usize) -> (u32, u32) {
    let offset = text.match_indices(needle).nth(nth).unwrap().0;
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[start..].encode_utf16().count();
    (line as u32, column as u32)
}

/// A range as `line:column-line:column`.
fn range(value: &Value) -> String {
    format!(
        "{}:{}-{}:{}",
        value["start"]["line"],
        value["start"]["character"],
        value["end"]["line"],
        value["end"]["character"]
    )
}

/// A program with a comment and strings that are not ASCII, so that columns in UTF-16 units
/// differ from bytes and from characters.
const PROGRAM: &str = "// Grüße, 😀: a comment that is not ASCII
fn greet(name: str, times: int) -> str {
    var out = \"\";
    var i = 0;
    while i < times {
        out += \"¡hola, \" + name + \"! \";
        i++;
    }
    return out;
}
var who = \"😀 Zoë\"; var n = len(who);
outer: {
    print(greet(who, n));
    break outer;
}\n";

#[test]
fn the_arguments_clients_pass_are_accepted() {
    // VS Code's client adds `--stdio`; some pass their process id.
    for args in [&["--stdio"][..], &["--stdio", "--clientProcessId=4242"]] {
        let mut client = Client::start_with(args);
        let response = client.request("initialize", json!({ "capabilities": {} }));
        assert!(
            response["result"]["capabilities"].is_object(),
            "{args:?}: {response}"
        );
        assert_eq!(client.shutdown(), 0);
    }
}

#[test]
fn initialize_declares_the_capabilities() {
    let (client, result) = Client::initialized();
    let capabilities = &result["capabilities"];
    assert_eq!(result["serverInfo"]["name"], "movac");
    assert_eq!(capabilities["positionEncoding"], "utf-16");
    assert_eq!(capabilities["textDocumentSync"], 1);
    for provider in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "documentSymbolProvider",
        "documentFormattingProvider",
    ] {
        assert_eq!(capabilities[provider], true, "{provider}");
    }
    assert_eq!(capabilities["renameProvider"]["prepareProvider"], true);
    let legend = &capabilities["semanticTokensProvider"]["legend"];
    assert!(
        legend["tokenTypes"]
            .as_array()
            .unwrap()
            .contains(&json!("keyword"))
    );
    assert_eq!(capabilities["semanticTokensProvider"]["full"], true);
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn diagnostics_are_published_with_codes_related_places_and_utf16_ranges() {
    let (mut client, _) = Client::initialized();
    let text = "var s = \"é😀\"; var t = s + 1;\nvar t = 2;\nvar unused = 0;\nprint(t);\n";
    let published = client.open(text);
    assert_eq!(published["uri"], URI);
    assert_eq!(published["version"], 1);
    let rendered: Vec<String> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let related: Vec<String> = d["relatedInformation"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|r| {
                            format!(
                                "  related {} {}",
                                range(&r["location"]["range"]),
                                r["message"]
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} {} severity {} source {}\n{}\n{}",
                d["code"].as_str().unwrap(),
                range(&d["range"]),
                d["severity"],
                d["source"],
                d["message"].as_str().unwrap(),
                related.join("\n")
            )
        })
        .collect();
    assert_snapshot!("lsp", "diagnostics", rendered.join("\n\n"));
    // The `1` after `s + ` sits after `é😀` (one UTF-16 unit and two): column 27.
    let mismatch = &published["diagnostics"][0];
    assert_eq!(mismatch["code"], "E0028");
    assert_eq!(
        range(&mismatch["range"]),
        format!(
            "0:{}-0:{}",
            position(text, "1;", 0).1,
            position(text, "1;", 0).1 + 1
        )
    );
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn diagnostics_follow_changes() {
    let (mut client, _) = Client::initialized();
    let published = client.open("print(x);\n");
    assert_eq!(published["diagnostics"][0]["code"], "E0005");
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": URI, "version": 2 },
            "contentChanges": [{ "text": "var x = 1;\nprint(x);\n" }],
        }),
    );
    let published = client.notification("textDocument/publishDiagnostics")["params"].clone();
    assert_eq!(published["version"], 2);
    assert_eq!(published["diagnostics"], json!([]));
    // A syntax error: only it is reported, as `movac check` does.
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": { "uri": URI, "version": 3 },
            "contentChanges": [{
                "range": { "start": { "line": 1, "character": 7 }, "end": { "line": 1, "character": 7 } },
                "text": " +",
            }],
        }),
    );
    let published = client.notification("textDocument/publishDiagnostics")["params"].clone();
    assert_eq!(published["version"], 3);
    let codes: Vec<&Value> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["code"])
        .collect();
    assert_eq!(codes, [&json!("E0002")]);
    // Closing clears them.
    client.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": URI } }),
    );
    let published = client.notification("textDocument/publishDiagnostics")["params"].clone();
    assert_eq!(published["diagnostics"], json!([]));
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn hover_shows_types_and_signatures() {
    let (mut client, _) = Client::initialized();
    client.open(PROGRAM);
    let hover = |client: &mut Client, needle: &str, nth: usize| {
        let (line, character) = position(PROGRAM, needle, nth);
        let result = client.at("textDocument/hover", line, character + 1, json!({}));
        (
            result["contents"]["value"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            range(&result["range"]),
        )
    };
    let (text, at) = hover(&mut client, "name +", 0);
    assert_eq!(text, "```mova\nname: str\n```\nparameter of `greet`");
    let (line, column) = position(PROGRAM, "name +", 0);
    assert_eq!(at, format!("{line}:{column}-{line}:{}", column + 4));
    assert_eq!(
        hover(&mut client, "out;", 0).0,
        "```mova\nvar out: str\n```\nvariable of `greet`"
    );
    assert_eq!(
        hover(&mut client, "greet(who", 0).0,
        "```mova\nfn greet(name: str, times: int) -> str\n```\nfunction"
    );
    // After the emoji and `ë` on the line: UTF-16 columns.
    assert_eq!(
        hover(&mut client, "n = len", 0).0,
        "```mova\nvar n: int\n```\nvariable"
    );
    assert_eq!(
        hover(&mut client, "len(who", 0).0,
        "```mova\nfn len(x: str or [T]) -> int\n```\nbuiltin function"
    );
    assert_eq!(
        hover(&mut client, "outer;", 0).0,
        "```mova\nouter: loop\n```\nlabel"
    );
    // Nothing to say about a keyword.
    let (line, character) = position(PROGRAM, "while", 0);
    assert_eq!(
        client.at("textDocument/hover", line, character, json!({})),
        Value::Null
    );
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn definition_and_references() {
    let (mut client, _) = Client::initialized();
    client.open(PROGRAM);
    let (line, character) = position(PROGRAM, "who, n", 0);
    let definition = client.at("textDocument/definition", line, character, json!({}));
    assert_eq!(definition["uri"], URI);
    let (dl, dc) = position(PROGRAM, "who =", 0);
    assert_eq!(
        range(&definition["range"]),
        format!("{dl}:{dc}-{dl}:{}", dc + 3)
    );
    let references = |client: &mut Client, include: bool| -> Vec<String> {
        let result = client.at(
            "textDocument/references",
            line,
            character,
            json!({ "context": { "includeDeclaration": include } }),
        );
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|location| range(&location["range"]))
            .collect()
    };
    let uses: Vec<String> = ["len(who", "who, n"]
        .iter()
        .map(|needle| {
            let offset = if needle.starts_with("len") { 4 } else { 0 };
            let (l, c) = position(PROGRAM, needle, 0);
            format!("{l}:{}-{l}:{}", c + offset, c + offset + 3)
        })
        .collect();
    assert_eq!(references(&mut client, false), uses);
    let mut with_declaration = vec![format!("{dl}:{dc}-{dl}:{}", dc + 3)];
    with_declaration.extend(uses);
    assert_eq!(references(&mut client, true), with_declaration);
    // A label's `break`.
    let (line, character) = position(PROGRAM, "outer;", 0);
    let definition = client.at("textDocument/definition", line, character, json!({}));
    assert_eq!(range(&definition["range"]), "11:0-11:5");
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn rename_changes_every_use_and_refuses_clashes() {
    let (mut client, _) = Client::initialized();
    client.open(PROGRAM);
    let (line, character) = position(PROGRAM, "i < times", 0);
    let prepared = client.at("textDocument/prepareRename", line, character, json!({}));
    assert_eq!(prepared["placeholder"], "i");
    assert_eq!(
        range(&prepared["range"]),
        format!("{line}:{character}-{line}:{}", character + 1)
    );
    let edit = client.at(
        "textDocument/rename",
        line,
        character,
        json!({ "newName": "count" }),
    );
    let edits = edit["changes"][URI].as_array().unwrap();
    assert_eq!(edits.len(), 3, "{edit}");
    assert!(edits.iter().all(|e| e["newText"] == "count"));
    let refused = |client: &mut Client, needle: &str, new: &str| -> String {
        let (line, character) = position(PROGRAM, needle, 0);
        let response = client.request(
            "textDocument/rename",
            json!({
                "textDocument": { "uri": URI },
                "position": { "line": line, "character": character },
                "newName": new,
            }),
        );
        assert_eq!(response["error"]["code"], -32803, "{response}");
        response["error"]["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        refused(&mut client, "i < times", "out"),
        "cannot rename `i` to `out`: a variable `out` is visible where `i` is"
    );
    assert_eq!(
        refused(&mut client, "i < times", "times"),
        "cannot rename `i` to `times`: a parameter `times` is visible where `i` is"
    );
    assert!(
        refused(&mut client, "who =", "greet").contains("a function `greet` is declared already")
    );
    assert!(refused(&mut client, "greet(who", "len").contains("builtin"));
    assert!(refused(&mut client, "who =", "loop").contains("keyword"));
    assert!(refused(&mut client, "who =", "2nd").contains("not a name"));
    // Nothing to rename on a keyword.
    let (line, character) = position(PROGRAM, "while", 0);
    let response = client.request(
        "textDocument/prepareRename",
        json!({ "textDocument": { "uri": URI }, "position": { "line": line, "character": character } }),
    );
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to rename")
    );
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn document_symbols_nest_what_functions_and_labels_declare() {
    let (mut client, _) = Client::initialized();
    client.open(PROGRAM);
    let response = client.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": URI } }),
    );
    fn outline(symbols: &Value, depth: usize, out: &mut Vec<String>) {
        for symbol in symbols.as_array().into_iter().flatten() {
            out.push(format!(
                "{}{} kind {} {} @{}",
                "  ".repeat(depth),
                symbol["name"].as_str().unwrap(),
                symbol["kind"],
                symbol["detail"].as_str().unwrap_or(""),
                range(&symbol["selectionRange"])
            ));
            outline(&symbol["children"], depth + 1, out);
        }
    }
    let mut lines = Vec::new();
    outline(&response["result"], 0, &mut lines);
    assert_eq!(
        lines,
        [
            "greet kind 12 fn greet(name: str, times: int) -> str @1:3-1:8",
            "  name kind 13 str @1:9-1:13",
            "  times kind 13 int @1:20-1:25",
            "  out kind 13 str @2:8-2:11",
            "  i kind 13 int @3:8-3:9",
            "who kind 13 str @10:4-10:7",
            "n kind 13 int @10:24-10:25",
            "outer kind 20 loop @11:0-11:5",
        ]
    );
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn completion_offers_locals_in_scope_functions_builtins_and_keywords() {
    let (mut client, _) = Client::initialized();
    client.open(PROGRAM);
    let labels = |client: &mut Client, line: u32, character: u32| -> Vec<(String, String)> {
        let result = client.at("textDocument/completion", line, character, json!({}));
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["label"].as_str().unwrap().to_owned(),
                    item["detail"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    // Inside the loop of `greet`: its locals and parameters, not the main program's `who`.
    let (line, character) = position(PROGRAM, "i++", 0);
    let items = labels(&mut client, line, character);
    let names: Vec<&str> = items.iter().map(|(label, _)| label.as_str()).collect();
    for expected in [
        "i", "out", "name", "times", "greet", "len", "push", "pop", "str", "array", "while",
        "print", "sleep", "return",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(!names.contains(&"who"), "{names:?}");
    assert!(items.contains(&(
        "greet".into(),
        "fn greet(name: str, times: int) -> str".into()
    )));
    assert!(items.contains(&("times".into(), "int (parameter)".into())));
    assert!(items.contains(&("push".into(), "fn push(a: [T], v: T)".into())));
    // In the main program: `who` and `n`, none of `greet`'s.
    let (line, character) = position(PROGRAM, "print(greet", 0);
    let names: Vec<String> = labels(&mut client, line, character)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert!(names.contains(&"who".to_owned()) && names.contains(&"n".to_owned()));
    assert!(!names.contains(&"out".to_owned()), "{names:?}");
    // Nothing inside a comment or a string.
    assert_eq!(labels(&mut client, 0, 10), []);
    let (line, character) = position(PROGRAM, "hola", 0);
    assert_eq!(labels(&mut client, line, character), []);
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn formatting_gives_the_canonical_layout() {
    let (mut client, _) = Client::initialized();
    let text = "var  x=1;\nif x>0 {print(x);}\n";
    client.open(text);
    let request = json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 4, "insertSpaces": true } });
    let response = client.request("textDocument/formatting", request.clone());
    let edits = response["result"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{response}");
    let formatted = edits[0]["newText"].as_str().unwrap();
    assert_eq!(formatted, mova_compiler::fmt::format_source(text).unwrap());
    assert_eq!(range(&edits[0]["range"]), "0:0-2:0");
    // A formatted document needs no edit; one that does not parse is left as it is.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [{ "text": formatted }] }),
    );
    let response = client.request("textDocument/formatting", request.clone());
    assert_eq!(response["result"], json!([]));
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 }, "contentChanges": [{ "text": "print(1 +);" }] }),
    );
    let response = client.request("textDocument/formatting", request);
    assert_eq!(response["error"]["code"], -32803, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error")
    );
    assert_eq!(client.shutdown(), 0);
}

/// Semantic tokens decoded: one line per token with its position, text, type and modifiers.
fn decode_tokens(text: &str, data: &[Value], legend: &Value) -> String {
    let types = legend["tokenTypes"].as_array().unwrap();
    let modifiers = legend["tokenModifiers"].as_array().unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    let (mut line, mut start) = (0u64, 0u64);
    let mut out = String::new();
    for token in data.chunks(5) {
        let [dl, ds, length, kind, mods] = [0, 1, 2, 3, 4].map(|i| token[i].as_u64().unwrap());
        if dl > 0 {
            line += dl;
            start = ds;
        } else {
            start += ds;
        }
        let units: Vec<u16> = lines[line as usize].encode_utf16().collect();
        let word = String::from_utf16_lossy(&units[start as usize..(start + length) as usize]);
        let names: Vec<&str> = (0..modifiers.len())
            .filter(|bit| mods & (1 << bit) != 0)
            .map(|bit| modifiers[bit].as_str().unwrap())
            .collect();
        let mut modifiers = names.join(",");
        if !modifiers.is_empty() {
            modifiers.insert(0, ' ');
        }
        let kind = types[kind as usize].as_str().unwrap();
        out += &format!("{line}:{start} {word:?} {kind}{modifiers}\n");
    }
    out
}

#[test]
fn semantic_tokens_classify_every_token() {
    let (mut client, result) = Client::initialized();
    let legend = result["capabilities"]["semanticTokensProvider"]["legend"].clone();
    client.open(PROGRAM);
    let response = client.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": URI } }),
    );
    let data = response["result"]["data"].as_array().unwrap().clone();
    assert_snapshot!(
        "lsp",
        "semantic-tokens",
        decode_tokens(PROGRAM, &data, &legend)
    );
    // An example, whole.
    let gcd = std::fs::read_to_string(mova_testkit::examples().join("gcd.mova")).unwrap();
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [{ "text": gcd }] }),
    );
    let response = client.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": URI } }),
    );
    let data = response["result"]["data"].as_array().unwrap().clone();
    assert_snapshot!(
        "lsp",
        "semantic-tokens-gcd",
        decode_tokens(&gcd, &data, &legend)
    );
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn garbage_is_answered_with_errors_and_the_session_goes_on() {
    let mut client = Client::start();
    // Before `initialize`, a request is refused and a notification ignored.
    let response = client.request("textDocument/hover", json!({}));
    assert_eq!(response["error"]["code"], -32002, "{response}");
    client.notify("textDocument/didOpen", json!({}));
    let response = client.request("initialize", json!({ "capabilities": {} }));
    assert!(response["result"]["capabilities"].is_object());
    client.notify("initialized", json!({}));
    // Not JSON, JSON that is no message, a frame without a length, a bad length.
    client.write_raw(b"Content-Length: 9\r\n\r\n{not json");
    assert_eq!(client.response(&Value::Null)["error"]["code"], -32700);
    client.write_raw(b"Content-Length: 6\r\n\r\n[1, 2]");
    assert_eq!(client.response(&Value::Null)["error"]["code"], -32600);
    client.write_raw(b"X-Nothing: here\r\n\r\n");
    assert_eq!(client.response(&Value::Null)["error"]["code"], -32700);
    client.write_raw(b"Content-Length: many\r\n\r\n");
    assert_eq!(client.response(&Value::Null)["error"]["code"], -32700);
    client.write_raw(b"Content-Length: 2\r\n\r\n\xff\xfe");
    assert_eq!(client.response(&Value::Null)["error"]["code"], -32700);
    // A request id of the wrong kind is still answered.
    client.send(json!({ "jsonrpc": "2.0", "id": 1.5, "method": "shutdown" }));
    assert_eq!(client.response(&json!(1.5))["error"]["code"], -32600);
    // An unknown method, parameters of the wrong shape, an unknown document, a position past
    // the end, a second `initialize`.
    let response = client.request("textDocument/teleport", json!({}));
    assert_eq!(response["error"]["code"], -32601, "{response}");
    let response = client.request("textDocument/hover", json!({ "textDocument": 7 }));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    let hover =
        json!({ "textDocument": { "uri": URI }, "position": { "line": 0, "character": 0 } });
    let response = client.request("textDocument/hover", hover);
    assert_eq!(response["error"]["code"], -32602, "{response}");
    client.open("print(1);\n");
    let past =
        json!({ "textDocument": { "uri": URI }, "position": { "line": 99, "character": 0 } });
    let response = client.request("textDocument/hover", past);
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("past the end")
    );
    let wide = json!({ "textDocument": { "uri": URI }, "position": { "line": 0, "character": 4000000000u32 } });
    assert!(
        client
            .request("textDocument/hover", wide)
            .get("error")
            .is_none()
    );
    let response = client.request("initialize", json!({ "capabilities": {} }));
    assert_eq!(response["error"]["code"], -32600, "{response}");
    // Unknown notifications and a change to an unknown document are ignored.
    client.notify("$/setTrace", json!({ "value": "off" }));
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": "file:///nowhere.mova", "version": 2 }, "contentChanges": [] }),
    );
    // Binary text: diagnostics (no more than the limit), never a crash.
    let binary: String = (0u8..=255).cycle().take(20_000).map(char::from).collect();
    let published = client.open(&binary);
    let count = published["diagnostics"].as_array().unwrap().len();
    assert!(
        count > 0 && count <= mova_compiler::lsp::MAX_DIAGNOSTICS,
        "{count}"
    );
    let response = client.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": URI } }),
    );
    assert!(response["result"]["data"].is_array());
    // A large program is compiled and answered quickly enough.
    let large = String::from("var x = 1;\n") + &"x += 2;\n".repeat(40_000) + "print(x);\n";
    let published = client.open(&large);
    assert_eq!(published["diagnostics"], json!([]));
    let references = client.at(
        "textDocument/references",
        40_001,
        6,
        json!({ "context": { "includeDeclaration": true } }),
    );
    assert_eq!(references.as_array().unwrap().len(), 40_002);
    // The session still works.
    let (line, character) = (40_001, 6);
    let hover = client.at("textDocument/hover", line, character, json!({}));
    assert_eq!(
        hover["contents"]["value"],
        "```mova\nvar x: int\n```\nvariable"
    );
    assert_eq!(client.shutdown(), 0);
}

#[test]
fn exit_without_shutdown_is_status_1_and_requests_after_shutdown_are_refused() {
    let (mut client, _) = Client::initialized();
    client.notify("exit", Value::Null);
    assert_eq!(client.exit_code(), 1);

    let (mut client, _) = Client::initialized();
    let response = client.request("shutdown", Value::Null);
    assert_eq!(response["result"], Value::Null);
    let response = client.request("textDocument/hover", json!({}));
    assert_eq!(response["error"]["code"], -32600, "{response}");
    client.notify("exit", Value::Null);
    assert_eq!(client.exit_code(), 0);

    // The end of the input without `exit`: 1, or 0 after `shutdown`.
    let (mut client, _) = Client::initialized();
    client.stdin = None;
    assert_eq!(client.exit_code(), 1);
    let (mut client, _) = Client::initialized();
    let response = client.request("shutdown", Value::Null);
    assert_eq!(response["result"], Value::Null);
    client.stdin = None;
    assert_eq!(client.exit_code(), 0);
}

#[test]
fn the_documented_limits_are_the_servers() {
    let docs = std::fs::read_to_string(mova_testkit::workspace().join("docs/tools.md")).unwrap();
    assert_eq!(mova_compiler::lsp::MAX_DIAGNOSTICS, 1000);
    assert!(docs.contains("At most 1,000 diagnostics"));
    assert_eq!(mova_compiler::lsp::transport::MAX_MESSAGE_LEN, 256 << 20);
    assert!(docs.contains("larger than 256 MiB"));
    assert_eq!(mova_compiler::driver::MAX_SOURCE_LEN, 64 << 20);
    assert!(docs.contains("64 MiB limit on sources"));
}

/// Every request at every few positions of every example, whole and cut short (so that the
/// parser recovers), is answered without an error.
#[test]
fn every_example_is_served_at_every_position() {
    let (mut client, _) = Client::initialized();
    let examples = mova_testkit::files_with_extension(mova_testkit::examples(), "mova");
    assert!(examples.len() > 10);
    let mut version = 1;
    for path in examples {
        let whole = std::fs::read_to_string(&path).unwrap();
        let mut cut = whole.len() * 2 / 3;
        while !whole.is_char_boundary(cut) {
            cut -= 1;
        }
        for text in [whole.as_str(), &whole[..cut]] {
            version += 1;
            client.notify(
                "textDocument/didOpen",
                json!({ "textDocument": { "uri": URI, "languageId": "mova", "version": version, "text": text } }),
            );
            let published = client.notification("textDocument/publishDiagnostics");
            if text.len() == whole.len() {
                assert_eq!(
                    published["params"]["diagnostics"],
                    json!([]),
                    "{}",
                    path.display()
                );
            }
            let document = json!({ "textDocument": { "uri": URI } });
            for method in [
                "textDocument/documentSymbol",
                "textDocument/semanticTokens/full",
            ] {
                let response = client.request(method, document.clone());
                assert!(
                    response.get("error").is_none(),
                    "{method} {}: {response}",
                    path.display()
                );
            }
            for (line, content) in text.split('\n').enumerate() {
                let width = content.encode_utf16().count();
                for character in (0..=width).step_by(4) {
                    for method in [
                        "textDocument/hover",
                        "textDocument/definition",
                        "textDocument/documentHighlight",
                        "textDocument/completion",
                    ] {
                        let response = client.request(
                            method,
                            json!({
                                "textDocument": { "uri": URI },
                                "position": { "line": line, "character": character },
                            }),
                        );
                        assert!(
                            response.get("error").is_none(),
                            "{method} {}:{line}:{character}: {response}",
                            path.display()
                        );
                    }
                }
            }
        }
    }
    assert_eq!(client.shutdown(), 0);
}
