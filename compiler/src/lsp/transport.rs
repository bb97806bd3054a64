//! The server's end of the protocol's base layer on standard input and output: messages framed
//! by a `Content-Length` header.
//!
//! `lsp-server`'s own stdio transport stops at the first malformed message; an editor's server
//! must not. Here a frame that cannot be read — a missing or invalid `Content-Length`, a body
//! that is not UTF-8 or not JSON, JSON that is no message, a body larger than
//! [`MAX_MESSAGE_LEN`] — is answered with the JSON-RPC error it deserves (`id` null when it has
//! none) and reading goes on with the next frame. Only the end of input stops it.

use lsp_server::{Connection, Message};
use serde_json::Value;
use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The largest message body read, in bytes: a document of the compiler's largest source
/// ([`MAX_SOURCE_LEN`](crate::driver::MAX_SOURCE_LEN), 64 MiB) with room for JSON's escapes.
/// A larger body is skipped, and answered with an error.
pub const MAX_MESSAGE_LEN: usize = 256 << 20;

/// The longest header line read; the rest of a longer one is skipped.
const MAX_HEADER_LEN: usize = 4096;

/// JSON-RPC's error for a message that is not JSON.
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's error for JSON that is no request.
const INVALID_REQUEST: i64 = -32600;

/// What one frame held.
#[derive(Debug)]
pub enum Frame {
    /// A message.
    Message(Message),
    /// Something that is no message: the error to answer it with.
    Bad {
        /// The request's id, when it had one.
        id: Value,
        code: i64,
        message: String,
    },
    /// The end of the input.
    End,
}

/// Reads one header line (without its line break), at most [`MAX_HEADER_LEN`] bytes of it;
/// `None` at the end of the input.
fn header_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = input
        .by_ref()
        .take(MAX_HEADER_LEN as u64)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && read == MAX_HEADER_LEN {
        // Skip the rest of an overlong line.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let more = input
                .by_ref()
                .take(MAX_HEADER_LEN as u64)
                .read_until(b'\n', &mut rest)?;
            if more == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// The value of a `Content-Length` header in `line`, wherever it starts in the line (so that
/// the header after a body that was not what its length said is still found).
fn content_length(line: &str) -> Option<Result<usize, String>> {
    const NAME: &str = "content-length:";
    let lower = line.to_ascii_lowercase();
    let at = lower.find(NAME)?;
    let value = line.get(at + NAME.len()..).unwrap_or_default().trim();
    Some(
        value
            .parse::<usize>()
            .map_err(|_| format!("invalid Content-Length `{value}`")),
    )
}

fn bad(id: Value, code: i64, message: impl Into<String>) -> Frame {
    Frame::Bad {
        id,
        code,
        message: message.into(),
    }
}

/// Reads the next frame from `input`.
pub fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    let mut length: Option<Result<usize, String>> = None;
    let mut any = false;
    loop {
        let Some(line) = header_line(input)? else {
            return Ok(Frame::End);
        };
        if line.is_empty() {
            if any {
                break;
            }
            // Blank lines between frames are skipped.
            continue;
        }
        any = true;
        if let Some(found) = content_length(&line) {
            length = Some(found);
        }
    }
    let length = match length {
        None => return Ok(bad(Value::Null, PARSE_ERROR, "no Content-Length header")),
        Some(Err(why)) => return Ok(bad(Value::Null, PARSE_ERROR, why)),
        Some(Ok(length)) => length,
    };
    if length > MAX_MESSAGE_LEN {
        io::copy(&mut input.by_ref().take(length as u64), &mut io::sink())?;
        return Ok(bad(
            Value::Null,
            INVALID_REQUEST,
            format!("a message of {length} bytes is larger than the limit of {MAX_MESSAGE_LEN}"),
        ));
    }
    let mut body = Vec::new();
    input.by_ref().take(length as u64).read_to_end(&mut body)?;
    if body.len() < length {
        return Ok(Frame::End);
    }
    Ok(parse(&body))
}

/// A frame's body as a message, or the error it deserves.
fn parse(body: &[u8]) -> Frame {
    let Ok(text) = std::str::from_utf8(body) else {
        return bad(Value::Null, PARSE_ERROR, "the message is not UTF-8");
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => {
            return bad(
                Value::Null,
                PARSE_ERROR,
                format!("the message is not JSON: {error}"),
            );
        }
    };
    let Some(object) = value.as_object() else {
        return bad(
            Value::Null,
            INVALID_REQUEST,
            "a message is a JSON object (batches are not supported)",
        );
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    let method = object.get("method");
    if method.is_some_and(|method| !method.is_string()) {
        return bad(id, INVALID_REQUEST, "a method is a string");
    }
    match serde_json::from_value::<Message>(value.clone()) {
        // An id that is neither a string nor a 32-bit integer makes a request look like a
        // notification to `lsp-server`: it is answered, not silently dropped.
        Ok(Message::Notification(_)) if !id.is_null() => bad(
            id,
            INVALID_REQUEST,
            "a request's id is a string or an integer",
        ),
        Ok(message) => Frame::Message(message),
        Err(error) => bad(
            id,
            INVALID_REQUEST,
            format!("not a JSON-RPC message: {error}"),
        ),
    }
}

/// Writes one message with its header.
pub fn write_frame(output: &mut impl Write, body: &[u8]) -> io::Result<()> {
    write!(output, "Content-Length: {}\r\n\r\n", body.len())?;
    output.write_all(body)?;
    output.flush()
}

/// The error response to a frame that is no message.
fn error_body(id: Value, code: i64, message: String) -> Vec<u8> {
    let response = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    });
    response.to_string().into_bytes()
}

/// A message as the protocol frames it.
fn message_body(message: &Message) -> Vec<u8> {
    let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert(String::from("jsonrpc"), Value::from("2.0"));
    }
    value.to_string().into_bytes()
}

/// The threads that move messages between standard input and output and the server.
#[derive(Debug)]
pub struct Stdio {
    writer: JoinHandle<()>,
}

impl Stdio {
    /// Waits until every message the server sent is written (the server's connection must be
    /// dropped first). Standard input's reader is left: the process is ending.
    pub fn finish(self) {
        let _ = self.writer.join();
    }
}

/// Connects a server to standard input and output: the connection it reads and writes, and
/// the threads that carry its messages.
pub fn stdio() -> io::Result<(Connection, Stdio)> {
    let (server, client) = Connection::memory();
    let output = Arc::new(Mutex::new(io::stdout()));
    let errors = Arc::clone(&output);
    let Connection { sender, receiver } = client;
    std::thread::Builder::new()
        .name(String::from("lsp reader"))
        .spawn(move || {
            let mut input = io::stdin().lock();
            loop {
                match read_frame(&mut input) {
                    Ok(Frame::Message(message)) => {
                        if sender.send(message).is_err() {
                            break;
                        }
                    }
                    Ok(Frame::Bad { id, code, message }) => {
                        let body = error_body(id, code, message);
                        let mut out = errors.lock().unwrap_or_else(PoisonError::into_inner);
                        if write_frame(&mut *out, &body).is_err() {
                            break;
                        }
                    }
                    Ok(Frame::End) | Err(_) => break,
                }
            }
        })?;
    let writer = std::thread::Builder::new()
        .name(String::from("lsp writer"))
        .spawn(move || {
            for message in receiver {
                let body = message_body(&message);
                let mut out = output.lock().unwrap_or_else(PoisonError::into_inner);
                if write_frame(&mut *out, &body).is_err() {
                    break;
                }
            }
        })?;
    Ok((server, Stdio { writer }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut input = io::Cursor::new(input.to_vec());
        let mut out = Vec::new();
        loop {
            match read_frame(&mut input).unwrap() {
                Frame::Message(Message::Request(request)) => {
                    out.push(format!("request {} {}", request.id, request.method));
                }
                Frame::Message(Message::Notification(notification)) => {
                    out.push(format!("notification {}", notification.method));
                }
                Frame::Message(Message::Response(response)) => {
                    out.push(format!("response {}", response.id));
                }
                Frame::Bad { id, code, .. } => out.push(format!("bad {id} {code}")),
                Frame::End => return out,
            }
        }
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn good_frames_are_messages_and_bad_ones_errors() {
        let mut input = String::new();
        input += &frame(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
        input += &frame("{not json");
        input += &frame(r#"[1, 2]"#);
        input += &frame(r#"{"jsonrpc":"2.0","id":2.5,"method":"hover"}"#);
        input += &frame(r#"{"jsonrpc":"2.0","id":3,"method":7}"#);
        input += "Content-Length: twelve\r\n\r\n";
        input += "X-Other: 1\r\n\r\n";
        // Lower-case header and a bare line feed.
        input += "content-length: 33\n\n{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}";
        input += &frame(r#"{"jsonrpc":"2.0","id":"a","result":null}"#);
        assert_eq!(
            frames(input.as_bytes()),
            [
                "request 1 initialize",
                "bad null -32700",
                "bad null -32600",
                "bad 2.5 -32600",
                "bad 3 -32600",
                "bad null -32700",
                "bad null -32700",
                "notification exit",
                "response \"a\"",
            ]
        );
    }

    #[test]
    fn a_body_shorter_than_its_length_ends_the_input_and_a_huge_one_is_refused() {
        assert_eq!(frames(b"Content-Length: 100\r\n\r\n{}"), [] as [&str; 0]);
        let huge = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_LEN + 1);
        assert_eq!(frames(huge.as_bytes()), ["bad null -32600"]);
        // Not UTF-8.
        let mut input = b"Content-Length: 2\r\n\r\n".to_vec();
        input.extend([0xff, 0xfe]);
        assert_eq!(frames(&input), ["bad null -32700"]);
    }

    #[test]
    fn a_header_after_a_body_longer_than_said_is_found() {
        // The first body is 3 bytes longer than its length: they run into the next header.
        let mut input = String::from("Content-Length: 2\r\n\r\n{}xyz");
        input += &frame(r#"{"jsonrpc":"2.0","method":"initialized"}"#);
        assert_eq!(
            frames(input.as_bytes()),
            ["bad null -32600", "notification initialized"]
        );
    }
}
