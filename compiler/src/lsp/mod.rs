//! `movac lsp`: a language server for `.mova` files, over standard input and output.
//!
//! Every open document is compiled as `movac check` compiles it, on every change, and its
//! diagnostics are published; the requests about names are answered from what the checker
//! resolved ([`Analysis`](crate::mova::analysis::Analysis)), never from a guess. A document
//! with syntax errors gets only those diagnostics, as `movac check` reports, but the checker
//! still runs on what the parser recovered, so hover, definition, completion and the rest work
//! on the statements that parsed.
//!
//! Nothing a client sends stops the server but the protocol's `exit`, or the end of its input:
//! a malformed message is answered with a JSON-RPC error ([`transport`]), an unknown method
//! with `MethodNotFound`, bad parameters or a position outside the document with
//! `InvalidParams`, and a failure inside a request (which would be a bug) with
//! `InternalError`. The exit status is 0 after `shutdown`, 1 without, as the protocol says.

pub mod document;
pub mod features;
pub mod semantic;
pub mod text;
pub mod transport;

use document::Document;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::{
    CompletionOptions, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentSymbolParams, GotoDefinitionParams, HoverParams,
    HoverProviderCapability, InitializeResult, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ReferenceParams, RenameOptions, RenameParams,
    SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensParams, ServerCapabilities,
    ServerInfo, TextDocumentIdentifier, TextDocumentPositionParams, TextDocumentSyncCapability,
    TextDocumentSyncKind, Uri, WorkDoneProgressOptions,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The most diagnostics published for one document: a binary file can have an invalid
/// character in every byte, and an editor has no use for a million of them.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// What the server declares it can do.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions::default()),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_highlight_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        semantic_tokens_provider: Some(
            SemanticTokensOptions {
                work_done_progress_options: WorkDoneProgressOptions::default(),
                legend: semantic::legend(),
                range: None,
                full: Some(SemanticTokensFullOptions::Bool(true)),
            }
            .into(),
        ),
        ..ServerCapabilities::default()
    }
}

/// Serves the protocol on standard input and output until `exit`; returns the exit status.
pub fn serve_stdio() -> u8 {
    let (connection, stdio) = match transport::stdio() {
        Ok(started) => started,
        Err(error) => {
            eprintln!("error: cannot start the language server: {error}");
            return 1;
        }
    };
    let status = run(&connection);
    // Every message sent is written before the process ends.
    drop(connection);
    stdio.finish();
    status
}

/// Where the session is, as the protocol orders it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before `initialize`: every other request is refused.
    Uninitialized,
    Running,
    /// After `shutdown`: only `exit` is expected.
    ShutDown,
}

/// A request's failure: a JSON-RPC error code and a message.
#[derive(Debug)]
struct Failure {
    code: ErrorCode,
    message: String,
}

impl Failure {
    fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// Serves `connection` until `exit` (or until the client goes away); returns the exit status:
/// 0 if `shutdown` came first, else 1.
pub fn run(connection: &Connection) -> u8 {
    let mut server = Server {
        connection,
        documents: HashMap::new(),
        state: State::Uninitialized,
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                let response = server.request(request);
                if connection.sender.send(response.into()).is_err() {
                    break;
                }
            }
            Message::Notification(notification) if notification.method == "exit" => {
                return server.exit_status();
            }
            Message::Notification(notification) => server.notification(notification),
            // The server sends no requests, so it expects no responses.
            Message::Response(_) => {}
        }
    }
    server.exit_status()
}

struct Server<'c> {
    connection: &'c Connection,
    documents: HashMap<Uri, Document>,
    state: State,
}

/// A request's parameters, or `InvalidParams` saying what is wrong with them.
fn params<P: DeserializeOwned>(method: &str, params: Value) -> Result<P, Failure> {
    serde_json::from_value(params).map_err(|error| {
        Failure::new(
            ErrorCode::InvalidParams,
            format!("invalid parameters for `{method}`: {error}"),
        )
    })
}

/// A result as JSON.
fn json(result: impl serde::Serialize) -> Result<Value, Failure> {
    serde_json::to_value(result)
        .map_err(|error| Failure::new(ErrorCode::InternalError, error.to_string()))
}

impl Server<'_> {
    fn exit_status(&self) -> u8 {
        if self.state == State::ShutDown { 0 } else { 1 }
    }

    fn request(&mut self, request: Request) -> Response {
        let Request { id, method, params } = request;
        let answer = catch_unwind(AssertUnwindSafe(|| self.answer(&method, params)));
        respond(id, &method, answer)
    }

    fn answer(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        match (self.state, method) {
            (State::Uninitialized, "initialize") => {
                self.state = State::Running;
                return json(InitializeResult {
                    capabilities: capabilities(),
                    server_info: Some(ServerInfo {
                        name: String::from("movac"),
                        version: Some(env!("CARGO_PKG_VERSION").to_owned()),
                    }),
                });
            }
            (State::Uninitialized, _) => {
                return Err(Failure::new(
                    ErrorCode::ServerNotInitialized,
                    format!("`{method}` before `initialize`"),
                ));
            }
            (State::Running | State::ShutDown, "initialize") => {
                return Err(Failure::new(
                    ErrorCode::InvalidRequest,
                    "the server is initialized already",
                ));
            }
            (State::ShutDown, _) => {
                return Err(Failure::new(
                    ErrorCode::InvalidRequest,
                    format!("`{method}` after `shutdown`: only `exit` is expected"),
                ));
            }
            (State::Running, "shutdown") => {
                self.state = State::ShutDown;
                return Ok(Value::Null);
            }
            (State::Running, _) => {}
        }
        match method {
            "textDocument/hover" => {
                let p: HoverParams = self::params(method, params)?;
                let (document, offset) = self.at(&p.text_document_position_params)?;
                json(features::hover(document, offset))
            }
            "textDocument/definition" => {
                let p: GotoDefinitionParams = self::params(method, params)?;
                let (document, offset) = self.at(&p.text_document_position_params)?;
                json(features::definition(document, offset))
            }
            "textDocument/references" => {
                let p: ReferenceParams = self::params(method, params)?;
                let (document, offset) = self.at(&p.text_document_position)?;
                let declaration = p.context.include_declaration;
                json(features::references(document, offset, declaration))
            }
            "textDocument/documentHighlight" => {
                let p: lsp_types::DocumentHighlightParams = self::params(method, params)?;
                let (document, offset) = self.at(&p.text_document_position_params)?;
                json(features::highlights(document, offset))
            }
            "textDocument/prepareRename" => {
                let p: TextDocumentPositionParams = self::params(method, params)?;
                let (document, offset) = self.at(&p)?;
                let range = features::prepare_rename(document, offset)
                    .map_err(|why| Failure::new(ErrorCode::RequestFailed, why))?;
                json(range)
            }
            "textDocument/rename" => {
                let p: RenameParams = self::params(method, params)?;
                let (document, offset) = self.at(&p.text_document_position)?;
                let edit = features::rename(document, offset, &p.new_name)
                    .map_err(|why| Failure::new(ErrorCode::RequestFailed, why))?;
                json(edit)
            }
            "textDocument/documentSymbol" => {
                let p: DocumentSymbolParams = self::params(method, params)?;
                let document = self.document(&p.text_document)?;
                json(features::document_symbols(document))
            }
            "textDocument/completion" => {
                let p: lsp_types::CompletionParams = self::params(method, params)?;
                let (document, offset) = self.at(&p.text_document_position)?;
                json(features::completion(document, offset))
            }
            "textDocument/formatting" => {
                let p: lsp_types::DocumentFormattingParams = self::params(method, params)?;
                let document = self.document(&p.text_document)?;
                let edits = features::format(document)
                    .map_err(|why| Failure::new(ErrorCode::RequestFailed, why))?;
                json(edits)
            }
            "textDocument/semanticTokens/full" => {
                let p: SemanticTokensParams = self::params(method, params)?;
                let document = self.document(&p.text_document)?;
                json(semantic::tokens(document))
            }
            _ => Err(Failure::new(
                ErrorCode::MethodNotFound,
                format!("unknown method `{method}`"),
            )),
        }
    }

    /// The open document a request is about.
    fn document(&self, document: &TextDocumentIdentifier) -> Result<&Document, Failure> {
        self.documents.get(&document.uri).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidParams,
                format!("no open document `{}`", document.uri.as_str()),
            )
        })
    }

    /// The open document a request is about, and the offset in its source of the position.
    fn at(&self, position: &TextDocumentPositionParams) -> Result<(&Document, usize), Failure> {
        let document = self.document(&position.text_document)?;
        let offset = document
            .offset_or_error(position.position)
            .map_err(|why| Failure::new(ErrorCode::InvalidParams, why))?;
        Ok((document, offset))
    }

    fn notification(&mut self, notification: Notification) {
        // Before `initialize`, notifications are dropped, as the protocol says.
        if self.state == State::Uninitialized {
            return;
        }
        let Notification { method, params } = notification;
        let handled = catch_unwind(AssertUnwindSafe(|| self.notified(&method, params)));
        match handled {
            Ok(Ok(())) => {}
            // A notification has no response: what is wrong with it goes to standard error.
            Ok(Err(failure)) => eprintln!("movac lsp: {}", failure.message),
            Err(_) => eprintln!("movac lsp: internal error handling `{method}`"),
        }
    }

    fn notified(&mut self, method: &str, params: Value) -> Result<(), Failure> {
        match method {
            "textDocument/didOpen" => {
                let p: DidOpenTextDocumentParams = self::params(method, params)?;
                let item = p.text_document;
                let document = Document::new(item.uri.clone(), item.version, item.text);
                self.publish(&document);
                self.documents.insert(item.uri, document);
            }
            "textDocument/didChange" => {
                let p: DidChangeTextDocumentParams = self::params(method, params)?;
                let uri = p.text_document.uri;
                let Some(document) = self.documents.get(&uri) else {
                    return Err(Failure::new(
                        ErrorCode::InvalidParams,
                        format!("a change of `{}`, which is not open", uri.as_str()),
                    ));
                };
                // Full changes replace the text; a ranged one (which a client may send
                // although the server asks for full ones) edits it.
                let mut text = document.text().to_owned();
                for change in p.content_changes {
                    let index = text::LineIndex::new(&text);
                    text = text::edited(&text, &index, change.range, &change.text);
                }
                let document = Document::new(uri.clone(), p.text_document.version, text);
                self.publish(&document);
                self.documents.insert(uri, document);
            }
            "textDocument/didClose" => {
                let p: DidCloseTextDocumentParams = self::params(method, params)?;
                if let Some(document) = self.documents.remove(&p.text_document.uri) {
                    self.send_diagnostics(document.uri, Vec::new(), None);
                }
            }
            // `initialized`, `$/cancelRequest` (every request is answered at once), saves and
            // settings need nothing; notifications the server does not know are ignored.
            _ => {}
        }
        Ok(())
    }

    fn publish(&self, document: &Document) {
        let mut diagnostics = document.diagnostics();
        diagnostics.truncate(MAX_DIAGNOSTICS);
        self.send_diagnostics(document.uri.clone(), diagnostics, Some(document.version));
    }

    fn send_diagnostics(
        &self,
        uri: Uri,
        diagnostics: Vec<lsp_types::Diagnostic>,
        version: Option<i32>,
    ) {
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        let Ok(params) = serde_json::to_value(params) else {
            return;
        };
        let notification = Notification {
            method: String::from("textDocument/publishDiagnostics"),
            params,
        };
        let _ = self.connection.sender.send(notification.into());
    }
}

/// The response to request `id`, from its answer (or the panic that stopped it).
fn respond(
    id: RequestId,
    method: &str,
    answer: std::thread::Result<Result<Value, Failure>>,
) -> Response {
    let error =
        |code: ErrorCode, message: String| Response::new_err(id.clone(), code as i32, message);
    match answer {
        Ok(Ok(value)) => Response {
            id,
            response_result: Ok(value),
        },
        Ok(Err(failure)) => error(failure.code, failure.message),
        Err(_) => error(
            ErrorCode::InternalError,
            format!(
                "internal error answering `{method}`: this is a bug in movac, please report it"
            ),
        ),
    }
}
