//! TLS for a control channel off the loopback (`rustls`, TLS 1.3 only, the `ring` provider).
//!
//! A VM that listens on a non-loopback address speaks only TLS. Its identity is a key pair and a
//! certificate: given with `--tls-cert`/`--tls-key` (PEM, e.g. signed by a CA), or else the
//! user's own, generated once (`rcgen`, a self-signed ECDSA P-256 certificate) and kept in
//! `<config dir>/tls/` so that its fingerprint — the SHA-256 of the certificate, written into the
//! runtime record — stays the same from one VM to the next, as an ssh host key does.
//!
//! A client decides whom it talks to before it sends anything ([`Trust`]): a pinned fingerprint
//! (from the runtime record of a local VM, or `movahv --fingerprint`), the fingerprint the known
//! hosts file holds for that host (trust on first use, refusing a changed one as ssh does), or
//! certificates signed by a CA the user names. The certificate must also be within its validity
//! period. The token handshake ([`crate::auth`]) then runs inside the TLS session and is bound to
//! it ([`binding`]), so a proof made for one session is worth nothing on another.

use crate::runtime::{self, RuntimeError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerConfig,
    ServerConnection, SignatureScheme, StreamOwned,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The label of the keying material the token handshake is bound to (RFC 5705 / RFC 8446 §7.5).
const EXPORTER_LABEL: &[u8] = b"EXPORTER-mova-control-v3";

/// The bytes of a channel binding.
pub const BINDING_LEN: usize = 32;

/// Whether a VM listening on (or a client reaching) `ip` speaks TLS: everywhere but on loopback.
pub fn required_for(ip: IpAddr) -> bool {
    !ip.is_loopback()
}

/// Why TLS could not be set up, or a peer was not trusted.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("`{}` holds no {what} in PEM form", path.display())]
    NoPem { path: PathBuf, what: &'static str },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot make a certificate: {0}")]
    Generate(String),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("`{0}` is not a fingerprint: expected `sha256:` and 64 hex digits")]
    BadFingerprint(String),
}

/// The SHA-256 of a certificate's DER bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `cert`.
    pub fn of(cert: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(cert).into())
    }

    /// Parses `sha256:` and 64 hex digits (the prefix may be left out; colons between the bytes,
    /// as some tools print them, are accepted).
    pub fn parse(text: &str) -> Result<Fingerprint, TlsError> {
        let bad = || TlsError::BadFingerprint(text.to_owned());
        let hex: String = text
            .trim()
            .strip_prefix("sha256:")
            .unwrap_or(text.trim())
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let bytes = runtime::decode_hex(&hex).ok_or_else(bad)?;
        Ok(Fingerprint(bytes.try_into().map_err(|_| bad())?))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", runtime::encode_hex(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A VM's TLS identity: its certificate chain and private key.
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Reads a certificate chain and its key from PEM files (`--tls-cert`, `--tls-key`).
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let read = |path: &Path| {
            fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TlsError::NoPem {
                path: cert.to_owned(),
                what: "certificate",
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|_| TlsError::NoPem {
            path: key.to_owned(),
            what: "private key",
        })?;
        Ok(Identity { chain, key })
    }

    /// The user's own identity in `dir` (`vm.crt`, `vm.key`), made there (mode 0600) the first
    /// time.
    pub fn own(dir: &Path) -> Result<Identity, TlsError> {
        let dir = runtime::private_dir(dir.to_owned())?;
        let (cert, key) = (dir.join("vm.crt"), dir.join("vm.key"));
        if !cert.exists() && !key.exists() {
            let made = rcgen::generate_simple_self_signed(vec![String::from("mova-vm")])
                .map_err(|error| TlsError::Generate(error.to_string()))?;
            // The key first: a certificate is never there without its key.
            write_new(&key, made.signing_key.serialize_pem().as_bytes())?;
            write_new(&cert, made.cert.pem().as_bytes())?;
        }
        Identity::load(&cert, &key)
    }

    /// The user's own identity in the default place, `<config dir>/tls`.
    pub fn default_own() -> Result<Identity, TlsError> {
        Identity::own(&runtime::config_dir()?.join("tls"))
    }

    /// The fingerprint of the certificate the VM presents.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.chain.first().map_or(&[][..], |cert| cert.as_ref()))
    }

    /// The server side's configuration: TLS 1.3 only, no client certificates (clients prove the
    /// token inside the session).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        Ok(Arc::new(config))
    }
}

/// Writes a new file of mode 0600 (refusing one that exists), through a temporary name.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let error = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    // A hard link fails if another VM made the file meanwhile: its copy wins.
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    match linked {
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map_err(error),
    }
}

/// Whom a client trusts to be the VM it means to reach.
#[derive(Clone, Debug)]
pub enum Trust {
    /// The certificate with this fingerprint, and no other.
    Pinned(Fingerprint),
    /// What the known hosts file says for `host`: a certificate of the fingerprint recorded for
    /// it; for a host not there yet, any, to be recorded once the VM has proved it holds the
    /// token (unless `strict`, which refuses a host not there).
    KnownHosts {
        file: PathBuf,
        host: String,
        strict: bool,
    },
    /// Certificates signed by one of these CAs for the host's name or address.
    Ca(Arc<RootCertStore>),
}

impl Trust {
    /// CA certificates from a PEM file (`--tls-ca`).
    pub fn ca_file(path: &Path) -> Result<Trust, TlsError> {
        let bytes = fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok) {
            roots.add(cert)?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoPem {
                path: path.to_owned(),
                what: "CA certificate",
            });
        }
        Ok(Trust::Ca(Arc::new(roots)))
    }
}

/// The known hosts file: one `HOST FINGERPRINT` a line (`#` starts a comment).
pub fn known_hosts_file() -> Result<PathBuf, TlsError> {
    Ok(runtime::config_dir()?.join("known_hosts"))
}

/// The fingerprint the known hosts `file` holds for `host`, if any (a missing file holds none).
pub fn known_fingerprint(file: &Path, host: &str) -> Result<Option<Fingerprint>, TlsError> {
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TlsError::Read {
                path: file.to_owned(),
                source,
            });
        }
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(fingerprint)) = (words.next(), words.next())
            && !name.starts_with('#')
            && name == host
        {
            return Fingerprint::parse(fingerprint).map(Some);
        }
    }
    Ok(None)
}

/// Records `fingerprint` for `host` at the end of the known hosts `file` (mode 0600).
pub fn remember(file: &Path, host: &str, fingerprint: Fingerprint) -> Result<(), TlsError> {
    let error = |source| TlsError::Write {
        path: file.to_owned(),
        source,
    };
    let mut out = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(file)
        .map_err(error)?;
    writeln!(out, "{host} {fingerprint}").map_err(error)
}

/// Checks the certificate a VM presents against a [`Trust`], and remembers its fingerprint.
#[derive(Debug)]
pub struct Verifier {
    trust: Trust,
    algorithms: WebPkiSupportedAlgorithms,
    /// The fingerprint of the certificate presented, once one was.
    presented: Mutex<Option<Fingerprint>>,
    /// Why it was refused.
    refused: Mutex<Option<String>>,
}

impl Verifier {
    pub fn new(trust: Trust) -> Verifier {
        Verifier {
            trust,
            algorithms: provider().signature_verification_algorithms,
            presented: Mutex::new(None),
            refused: Mutex::new(None),
        }
    }

    /// The fingerprint of the certificate the VM presented.
    pub fn presented(&self) -> Option<Fingerprint> {
        *self
            .presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Why the certificate was refused, if it was (rustls reports only that it was).
    pub fn refusal(&self) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn refuse(reason: String) -> rustls::Error {
        rustls::Error::General(reason)
    }
}

impl Verifier {
    /// The checks of [`ServerCertVerifier::verify_server_cert`], by the trust.
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity.as_ref());
        *self
            .presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(presented);
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        let pinned = match &self.trust {
            Trust::Ca(roots) => {
                rustls::client::verify_server_cert_signed_by_trust_anchor(
                    &parsed,
                    roots,
                    intermediates,
                    now,
                    self.algorithms.all,
                )?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                return Ok(ServerCertVerified::assertion());
            }
            Trust::Pinned(pin) => Some(*pin),
            Trust::KnownHosts { file, host, strict } => {
                let known = known_fingerprint(file, host)
                    .map_err(|error| Verifier::refuse(error.to_string()))?;
                if known.is_none() && *strict {
                    return Err(Verifier::refuse(format!(
                        "no fingerprint is known for {host} (in {}); give the VM's with \
                         --fingerprint",
                        file.display()
                    )));
                }
                if let Some(known) = known
                    && known != presented
                {
                    return Err(Verifier::refuse(format!(
                        "the fingerprint of {host} changed: it presented {presented}, but {} \
                         records {known}; if its key was replaced on purpose, remove that line",
                        file.display()
                    )));
                }
                known
            }
        };
        if let Some(pin) = pinned
            && pin != presented
        {
            return Err(Verifier::refuse(format!(
                "wrong fingerprint: the VM presented {presented}, expected {pin}"
            )));
        }
        // The certificate is the one trusted; it must still be within its validity period.
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity.as_ref()).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let valid = x509_parser::time::ASN1Time::from_timestamp(now)
            .is_ok_and(|now| cert.validity().is_valid_at(now));
        if !valid {
            return Err(Verifier::refuse(format!(
                "the VM's certificate {presented} is expired or not yet valid (valid from {} to \
                 {})",
                cert.validity().not_before,
                cert.validity().not_after
            )));
        }
        Ok(ServerCertVerified::assertion())
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.check(end_entity, intermediates, server_name, now);
        if let Err(error) = &verdict {
            let reason = if let rustls::Error::General(reason) = error {
                reason.clone()
            } else {
                format!("the VM's certificate is refused: {error}")
            };
            *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client configuration that checks the VM's certificate with `verifier`: TLS 1.3 only.
pub fn client_config(verifier: Arc<Verifier>) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TCP connection whose reads and writes, while a deadline is set, each wait only for what is
/// left of it: a peer that sends a byte at a time cannot stretch a handshake.
#[derive(Debug)]
pub struct Socket {
    pub tcp: TcpStream,
    deadline: Option<Instant>,
}

impl Socket {
    pub fn new(tcp: TcpStream) -> Socket {
        Socket {
            tcp,
            deadline: None,
        }
    }

    /// What is left before the deadline, if one is set; a timeout error once it has passed.
    fn left(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(Some(left))
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.tcp.set_read_timeout(Some(left))?;
        }
        self.tcp.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.tcp.set_write_timeout(Some(left))?;
        }
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A control connection: plain TCP, or TLS as the VM's or the client's side.
#[derive(Debug)]
pub enum Stream {
    Plain(Socket),
    Server(Box<StreamOwned<ServerConnection, Socket>>),
    Client(Box<StreamOwned<ClientConnection, Socket>>),
}

impl Stream {
    /// The VM's side of a connection: TLS with `config`, or plain without.
    pub fn accept(tcp: TcpStream, config: Option<&Arc<ServerConfig>>) -> io::Result<Stream> {
        let socket = Socket::new(tcp);
        Ok(match config {
            None => Stream::Plain(socket),
            Some(config) => {
                let conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
                Stream::Server(Box::new(StreamOwned::new(conn, socket)))
            }
        })
    }

    /// The client's side of a connection to `host`: TLS with `config`, or plain without.
    pub fn connect(
        tcp: TcpStream,
        host: &str,
        config: Option<Arc<ClientConfig>>,
    ) -> io::Result<Stream> {
        let socket = Socket::new(tcp);
        Ok(match config {
            None => Stream::Plain(socket),
            Some(config) => {
                // The name is checked only against a CA-signed certificate; an address is one.
                let name = ServerName::try_from(host.to_owned()).unwrap_or_else(|_| {
                    ServerName::try_from("mova-vm").unwrap_or_else(|_| {
                        ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into())
                    })
                });
                let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
                Stream::Client(Box::new(StreamOwned::new(conn, socket)))
            }
        })
    }

    pub fn socket(&self) -> &Socket {
        match self {
            Stream::Plain(socket) => socket,
            Stream::Server(tls) => tls.get_ref(),
            Stream::Client(tls) => tls.get_ref(),
        }
    }

    fn socket_mut(&mut self) -> &mut Socket {
        match self {
            Stream::Plain(socket) => socket,
            Stream::Server(tls) => tls.get_mut(),
            Stream::Client(tls) => tls.get_mut(),
        }
    }

    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        &self.socket().tcp
    }

    /// Sets or clears the deadline every read and write must meet.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.socket_mut().deadline = deadline;
    }

    /// Whether this is a TLS connection.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Completes the TLS handshake (nothing on a plain connection).
    pub fn handshake(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Server(tls) => {
                while tls.conn.is_handshaking() {
                    tls.conn.complete_io(&mut tls.sock)?;
                }
                Ok(())
            }
            Stream::Client(tls) => {
                while tls.conn.is_handshaking() {
                    tls.conn.complete_io(&mut tls.sock)?;
                }
                Ok(())
            }
        }
    }

    /// The channel binding the token handshake is bound to: keying material exported from the
    /// TLS session, or nothing on a plain connection.
    pub fn binding(&self) -> io::Result<Vec<u8>> {
        let exported = match self {
            Stream::Plain(_) => return Ok(Vec::new()),
            Stream::Server(tls) => {
                tls.conn
                    .export_keying_material([0u8; BINDING_LEN], EXPORTER_LABEL, None)
            }
            Stream::Client(tls) => {
                tls.conn
                    .export_keying_material([0u8; BINDING_LEN], EXPORTER_LABEL, None)
            }
        };
        exported.map(Vec::from).map_err(io::Error::other)
    }

    /// Whether the peer has closed the connection (a request sent now could not reach it),
    /// looked at without waiting. On a plain connection nothing is consumed. On a TLS one the
    /// session is asked for what arrived: a VM sends nothing but answers, so a byte that arrived
    /// unasked means the connection is no longer usable either, and counts as closed.
    pub fn peer_closed(&mut self) -> bool {
        let tcp = &self.socket().tcp;
        if tcp.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let looked = match self {
            Stream::Plain(socket) => socket.tcp.peek(&mut byte),
            Stream::Server(tls) => tls.read(&mut byte),
            Stream::Client(tls) => tls.read(&mut byte),
        };
        let _ = self.socket().tcp.set_nonblocking(false);
        match looked {
            Ok(0) => true,
            Ok(_) => self.is_tls(),
            Err(error) => error.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// Ends a TLS session with its close notification (nothing on a plain connection).
    pub fn close(&mut self) {
        match self {
            Stream::Plain(_) => {}
            Stream::Server(tls) => {
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(&mut tls.sock);
            }
            Stream::Client(tls) => {
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(&mut tls.sock);
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buf),
            Stream::Server(tls) => tls.read(buf),
            Stream::Client(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.write(buf),
            Stream::Server(tls) => tls.write(buf),
            Stream::Client(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            Stream::Server(tls) => tls.flush(),
            Stream::Client(tls) => tls.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::auth;
    use crate::protocol::Response;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread;

    /// A certificate (PEM) and its key (PEM), valid for `mova-vm` and 127.0.0.1.
    fn self_signed(params: CertificateParams) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn params() -> CertificateParams {
        CertificateParams::new(vec!["mova-vm".into(), "127.0.0.1".into()]).unwrap()
    }

    fn identity(dir: &tempfile::TempDir, (cert, key): &(String, String)) -> Identity {
        let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        fs::write(&cert_path, cert).unwrap();
        fs::write(&key_path, key).unwrap();
        Identity::load(&cert_path, &key_path).unwrap()
    }

    /// A TLS session over loopback between a server with `identity` and a client trusting
    /// `trust`, then the token handshake bound to it. Returns the client's outcome and both
    /// sides' bindings.
    fn session(identity: &Identity, trust: Trust) -> (Result<(), String>, Vec<u8>, Vec<u8>) {
        let config = identity.server_config().unwrap();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let mut stream = Stream::accept(tcp, Some(&config)).unwrap();
            stream.set_deadline(Some(Instant::now() + Duration::from_secs(5)));
            if stream.handshake().is_err() {
                return Vec::new();
            }
            let binding = stream.binding().unwrap();
            if auth::vm_handshake(&mut stream, &[7; 32], &binding).is_ok() {
                Response::Ok.write(&mut stream).unwrap();
            }
            stream.close();
            binding
        });
        let tcp = TcpStream::connect(addr).unwrap();
        let verifier = Arc::new(Verifier::new(trust));
        let config = client_config(Arc::clone(&verifier)).unwrap();
        let mut stream = Stream::connect(tcp, "127.0.0.1", Some(config)).unwrap();
        stream.set_deadline(Some(Instant::now() + Duration::from_secs(5)));
        let result = stream
            .handshake()
            .map_err(|error| verifier.refusal().unwrap_or_else(|| error.to_string()))
            .and_then(|()| {
                let binding = stream.binding().unwrap();
                auth::client_handshake(&mut stream, &[7; 32], &binding)
                    .map_err(|error| error.to_string())
                    .map(|()| binding)
            });
        drop(stream);
        let server_binding = server.join().unwrap();
        match result {
            Ok(binding) => (Ok(()), binding, server_binding),
            Err(error) => (Err(error), Vec::new(), server_binding),
        }
    }

    #[test]
    fn fingerprints_print_and_parse() {
        let fingerprint = Fingerprint::of(b"certificate");
        let text = fingerprint.to_string();
        assert!(
            text.starts_with("sha256:") && text.len() == 7 + 64,
            "{text}"
        );
        assert_eq!(Fingerprint::parse(&text).unwrap(), fingerprint);
        assert_eq!(Fingerprint::parse(&text[7..]).unwrap(), fingerprint);
        let colons: Vec<String> = fingerprint.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(Fingerprint::parse(&colons.join(":")).unwrap(), fingerprint);
        for bad in ["", "sha256:", "sha256:zz", &text[..text.len() - 2]] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_own_identity_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = Identity::own(&tls).unwrap();
        for name in ["vm.crt", "vm.key"] {
            let mode = fs::metadata(tls.join(name)).unwrap().permissions();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
                0o600
            );
        }
        assert_eq!(
            Identity::own(&tls).unwrap().fingerprint(),
            first.fingerprint()
        );
    }

    #[test]
    fn a_pinned_session_binds_the_token_handshake_to_itself() {
        let dir = tempfile::tempdir().unwrap();
        let vm = identity(&dir, &self_signed(params()));
        let (result, client, server) = session(&vm, Trust::Pinned(vm.fingerprint()));
        assert_eq!(result, Ok(()));
        assert_eq!(client.len(), BINDING_LEN);
        assert_eq!(client, server, "both sides export the same binding");
    }

    #[test]
    fn a_wrong_fingerprint_is_refused_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let vm = identity(&dir, &self_signed(params()));
        let (result, _, server) = session(&vm, Trust::Pinned(Fingerprint([1; 32])));
        let error = result.unwrap_err();
        assert!(error.contains("wrong fingerprint"), "{error}");
        assert!(server.is_empty(), "the server's TLS handshake failed too");
    }

    #[test]
    fn an_expired_certificate_is_refused_even_when_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let mut expired = params();
        expired.not_before = rcgen::date_time_ymd(2000, 1, 1);
        expired.not_after = rcgen::date_time_ymd(2001, 1, 1);
        let vm = identity(&dir, &self_signed(expired));
        let error = session(&vm, Trust::Pinned(vm.fingerprint())).0.unwrap_err();
        assert!(error.contains("expired or not yet valid"), "{error}");
    }

    #[test]
    fn known_hosts_trust_on_first_use_and_refuse_a_changed_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        let trust = |strict| Trust::KnownHosts {
            file: file.clone(),
            host: "127.0.0.1".into(),
            strict,
        };
        let vm = identity(&dir, &self_signed(params()));
        // Strict: an unknown host is refused.
        let error = session(&vm, trust(true)).0.unwrap_err();
        assert!(
            error.contains("no fingerprint is known for 127.0.0.1"),
            "{error}"
        );
        // Not strict: accepted (the caller records it once the token handshake succeeded).
        assert_eq!(session(&vm, trust(false)).0, Ok(()));
        remember(&file, "127.0.0.1", vm.fingerprint()).unwrap();
        assert_eq!(
            known_fingerprint(&file, "127.0.0.1").unwrap(),
            Some(vm.fingerprint())
        );
        assert_eq!(known_fingerprint(&file, "10.0.0.1").unwrap(), None);
        assert_eq!(session(&vm, trust(true)).0, Ok(()));
        // Another key on the same host: refused, as ssh does.
        let impostor = identity(&dir, &self_signed(params()));
        let error = session(&impostor, trust(false)).0.unwrap_err();
        assert!(
            error.contains("the fingerprint of 127.0.0.1 changed"),
            "{error}"
        );
    }

    #[test]
    fn with_a_ca_only_its_certificates_for_the_address_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let ca_file = dir.path().join("ca.pem");
        fs::write(&ca_file, ca_cert.pem()).unwrap();
        let trust = || Trust::ca_file(&ca_file).unwrap();

        let leaf_key = KeyPair::generate().unwrap();
        let leaf = params().signed_by(&leaf_key, &issuer).unwrap();
        let signed = identity(&dir, &(leaf.pem(), leaf_key.serialize_pem()));
        assert_eq!(session(&signed, trust()).0, Ok(()));

        // Self-signed, though pinned elsewhere: not signed by the CA.
        let unsigned = identity(&dir, &self_signed(params()));
        let error = session(&unsigned, trust()).0.unwrap_err();
        assert!(error.contains("certificate is refused"), "{error}");

        // Signed by the CA, but for another name.
        let other_key = KeyPair::generate().unwrap();
        let other = CertificateParams::new(vec!["elsewhere.example".into()])
            .unwrap()
            .signed_by(&other_key, &issuer)
            .unwrap();
        let misnamed = identity(&dir, &(other.pem(), other_key.serialize_pem()));
        assert!(session(&misnamed, trust()).0.is_err());
    }

    #[test]
    fn a_closed_tls_session_is_seen_closed_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let vm = identity(&dir, &self_signed(params()));
        let config = vm.server_config().unwrap();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let (close, closing) = std::sync::mpsc::channel::<()>();
        let server = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let mut stream = Stream::accept(tcp, Some(&config)).unwrap();
            stream.handshake().unwrap();
            closing.recv().unwrap();
            stream.close();
        });
        let verifier = Arc::new(Verifier::new(Trust::Pinned(vm.fingerprint())));
        let config = client_config(verifier).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        let mut stream = Stream::connect(tcp, "127.0.0.1", Some(config)).unwrap();
        stream.handshake().unwrap();
        assert!(!stream.peer_closed(), "an open session");
        close.send(()).unwrap();
        server.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !stream.peer_closed() {
            assert!(Instant::now() < deadline, "the close was never seen");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_tls_handshake_trickled_in_a_byte_at_a_time_still_meets_one_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let vm = identity(&dir, &self_signed(params()));
        let config = vm.server_config().unwrap();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (tcp, _) = listener.accept().unwrap();
        let trickle = thread::spawn(move || {
            // The start of a ClientHello record, a byte every 20 ms.
            for byte in [0x16, 0x03, 0x01, 0x02, 0x00].into_iter().chain([1; 40]) {
                if client.write_all(&[byte]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        let started = Instant::now();
        let mut stream = Stream::accept(tcp, Some(&config)).unwrap();
        stream.set_deadline(Some(started + Duration::from_millis(150)));
        let error = stream.handshake().unwrap_err();
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{error:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
        drop(stream);
        trickle.join().unwrap();
    }

    #[test]
    fn the_host_of_an_address_is_what_known_hosts_name() {
        use crate::client::host_of;
        assert_eq!(host_of("10.0.0.2:4000"), "10.0.0.2");
        assert_eq!(host_of("[::1]:4000"), "::1");
        assert_eq!(host_of("vm.example:4000"), "vm.example");
    }
}
