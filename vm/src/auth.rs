//! The handshake's challenge–response (protocol version 3): each side proves it holds the VM's
//! token without sending it.
//!
//! ```text
//! client → VM   Hello     version 3, client nonce (32 random bytes)
//! VM → client   Challenge VM nonce (32 random bytes), VM proof
//! client → VM   Proof     client proof          (only once the VM's proof checked out)
//! VM → client   Ok        (or Error, and the connection closes)
//! ```
//!
//! A proof is HMAC-SHA256 keyed by the token over a label naming the prover's role, both nonces
//! and the channel binding (on a TLS connection, keying material exported from its session, so a
//! proof made for one connection is worth nothing on another; empty on a plain one):
//!
//! ```text
//! proof = HMAC-SHA256(token, "mova control v3 " || role || 0x00 || client nonce || VM nonce || binding)
//! role  = "vm" | "client"
//! ```
//!
//! Both nonces are fresh for each connection, so a recorded handshake replayed to a VM fails
//! (its nonce is new), and a VM's proof cannot be passed off as a client's (the roles differ).
//! The VM proves itself first, so a client never sends anything derived from the token to a
//! listener that does not hold it. Proofs are compared in constant time (`hmac`'s `verify`).

use crate::protocol::{FrameError, MAX_HELLO_FRAME, PROTOCOL_VERSION, Request, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::{self, Read, Write};

/// The bytes of each side's nonce.
pub const NONCE_LEN: usize = 32;

/// The bytes of a proof: an HMAC-SHA256.
pub const PROOF_LEN: usize = 32;

/// The label every proof begins with.
const LABEL: &[u8] = b"mova control v3 ";

/// Who makes a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Vm,
    Client,
}

impl Role {
    fn name(self) -> &'static [u8] {
        match self {
            Role::Vm => b"vm",
            Role::Client => b"client",
        }
    }
}

/// The HMAC a proof is, fed with everything but the key.
fn mac(
    token: &[u8],
    role: Role,
    client_nonce: &[u8],
    vm_nonce: &[u8],
    binding: &[u8],
) -> Hmac<Sha256> {
    let mut mac = mova_lang::seal::hmac_sha256(token);
    for part in [LABEL, role.name(), &[0], client_nonce, vm_nonce, binding] {
        mac.update(part);
    }
    mac
}

/// The proof that `role` holds `token`, for one connection.
pub fn proof(
    token: &[u8],
    role: Role,
    client_nonce: &[u8],
    vm_nonce: &[u8],
    binding: &[u8],
) -> [u8; PROOF_LEN] {
    mac(token, role, client_nonce, vm_nonce, binding)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `claimed` is `role`'s proof for this connection, compared in constant time.
pub fn verify(
    token: &[u8],
    role: Role,
    client_nonce: &[u8],
    vm_nonce: &[u8],
    binding: &[u8],
    claimed: &[u8],
) -> bool {
    mac(token, role, client_nonce, vm_nonce, binding)
        .verify_slice(claimed)
        .is_ok()
}

/// Fresh random bytes for a nonce.
pub fn nonce() -> io::Result<[u8; NONCE_LEN]> {
    crate::runtime::random_bytes()
}

/// Why a client's handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The connection failed, or a frame was malformed.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The VM refused (its Error's reason).
    #[error("{0}")]
    Refused(String),
    /// Whoever answered could not prove it holds the token: not the VM the token belongs to.
    #[error(
        "the peer could not prove it holds the VM's token: it is not the VM the token belongs to \
         (nothing was sent to it)"
    )]
    Impostor,
    /// The peer answered something the handshake has no place for.
    #[error("unexpected answer to the handshake: {0}")]
    Unexpected(String),
}

/// The client's side of the handshake on `stream`: proves it holds `token` to a VM that first
/// proves it holds it too. `binding` is the channel binding (empty on a plain connection).
pub fn client_handshake(
    stream: &mut (impl Read + Write),
    token: &[u8],
    binding: &[u8],
) -> Result<(), HandshakeError> {
    let client_nonce = nonce().map_err(FrameError::Io)?;
    Request::Hello {
        version: PROTOCOL_VERSION,
        nonce: client_nonce.to_vec(),
    }
    .write(stream)
    .map_err(FrameError::Io)?;
    let answer = Response::read(stream)?;
    let (vm_nonce, vm_proof) = if let Response::Challenge { nonce, proof } = answer {
        (nonce, proof)
    } else {
        return Err(not_ok(answer));
    };
    if !verify(
        token,
        Role::Vm,
        &client_nonce,
        &vm_nonce,
        binding,
        &vm_proof,
    ) {
        return Err(HandshakeError::Impostor);
    }
    let proof = proof(token, Role::Client, &client_nonce, &vm_nonce, binding);
    Request::Proof(proof.to_vec())
        .write(stream)
        .map_err(FrameError::Io)?;
    let answer = Response::read(stream)?;
    if answer == Response::Ok {
        Ok(())
    } else {
        Err(not_ok(answer))
    }
}

/// A refusal for an Error, else an answer out of turn.
fn not_ok(answer: Response) -> HandshakeError {
    if let Response::Error(reason) = answer {
        HandshakeError::Refused(reason)
    } else {
        HandshakeError::Unexpected(format!("{answer:?}"))
    }
}

/// The VM's side, up to the client's proof: reads the Hello, answers with a Challenge, and checks
/// the Proof that follows. The caller answers Ok (or an Error) and applies the deadline through
/// `stream`. Returns why the client is refused, as the VM logs it and tells the client.
pub fn vm_handshake(
    stream: &mut (impl Read + Write),
    token: &[u8],
    binding: &[u8],
) -> Result<(), VmHandshakeError> {
    let Request::Hello {
        version,
        nonce: client_nonce,
    } = Request::read(stream, MAX_HELLO_FRAME)?
    else {
        return Err(VmHandshakeError::NoHello);
    };
    if version != PROTOCOL_VERSION {
        return Err(VmHandshakeError::Version(version));
    }
    if client_nonce.len() != NONCE_LEN {
        return Err(VmHandshakeError::Malformed(format!(
            "a hello's nonce is {NONCE_LEN} bytes, not {}",
            client_nonce.len()
        )));
    }
    let vm_nonce = nonce().map_err(FrameError::Io)?;
    Response::Challenge {
        nonce: vm_nonce.to_vec(),
        proof: proof(token, Role::Vm, &client_nonce, &vm_nonce, binding).to_vec(),
    }
    .write(stream)
    .map_err(FrameError::Io)?;
    let Request::Proof(claimed) = Request::read(stream, MAX_HELLO_FRAME)? else {
        return Err(VmHandshakeError::NoProof);
    };
    if verify(
        token,
        Role::Client,
        &client_nonce,
        &vm_nonce,
        binding,
        &claimed,
    ) {
        Ok(())
    } else {
        Err(VmHandshakeError::WrongProof)
    }
}

/// Why the VM refuses a client's handshake.
#[derive(Debug, thiserror::Error)]
pub enum VmHandshakeError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(
        "protocol version {0} is not supported: this VM speaks version {PROTOCOL_VERSION}, whose \
         handshake never sends the token; upgrade the client"
    )]
    Version(u16),
    #[error("authentication required: the first frame must be a hello")]
    NoHello,
    #[error("bad handshake: {0}")]
    Malformed(String),
    #[error("authentication failed: the client's proof does not match the token")]
    WrongProof,
    #[error("authentication failed: the frame after the challenge must be a proof")]
    NoProof,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::thread;

    const TOKEN: [u8; 32] = [0x42; 32];

    #[test]
    fn proofs_depend_on_every_input() {
        let base = proof(&TOKEN, Role::Vm, &[1; 32], &[2; 32], &[]);
        assert!(verify(&TOKEN, Role::Vm, &[1; 32], &[2; 32], &[], &base));
        for other in [
            proof(&[0x43; 32], Role::Vm, &[1; 32], &[2; 32], &[]),
            proof(&TOKEN, Role::Client, &[1; 32], &[2; 32], &[]),
            proof(&TOKEN, Role::Vm, &[3; 32], &[2; 32], &[]),
            proof(&TOKEN, Role::Vm, &[1; 32], &[3; 32], &[]),
            proof(&TOKEN, Role::Vm, &[1; 32], &[2; 32], &[4; 32]),
        ] {
            assert_ne!(other, base);
        }
        assert!(!verify(
            &TOKEN,
            Role::Vm,
            &[1; 32],
            &[2; 32],
            &[],
            &base[..31]
        ));
        assert!(!verify(
            &TOKEN,
            Role::Client,
            &[1; 32],
            &[2; 32],
            &[],
            &base
        ));
    }

    /// Runs the VM's side on one end of a loopback connection with `vm_token`, the client's
    /// on the other with `client_token`.
    fn handshake(
        vm_token: [u8; 32],
        client_token: [u8; 32],
    ) -> (Result<(), VmHandshakeError>, Result<(), HandshakeError>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let vm = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let result = vm_handshake(&mut stream, &vm_token, &[]);
            let answer = match &result {
                Ok(()) => Response::Ok,
                Err(error) => Response::Error(error.to_string()),
            };
            let _ = answer.write(&mut stream);
            result
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        let client = client_handshake(&mut stream, &client_token, &[]);
        drop(stream);
        (vm.join().unwrap(), client)
    }

    #[test]
    fn the_same_token_on_both_sides_succeeds() {
        let (vm, client) = handshake(TOKEN, TOKEN);
        assert!(vm.is_ok() && client.is_ok(), "{vm:?} {client:?}");
    }

    #[test]
    fn a_client_refuses_a_vm_that_cannot_prove_the_token_and_sends_it_nothing() {
        let (vm, client) = handshake([1; 32], TOKEN);
        assert!(
            matches!(client, Err(HandshakeError::Impostor)),
            "{client:?}"
        );
        // The VM saw the connection close where the proof should have been.
        assert!(
            matches!(vm, Err(VmHandshakeError::Frame(FrameError::Closed))),
            "{vm:?}"
        );
    }

    #[test]
    fn an_old_client_is_told_to_upgrade() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let vm = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            vm_handshake(&mut stream, &TOKEN, &[])
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        // Version 2's hello: the token itself.
        Request::Hello {
            version: 2,
            nonce: TOKEN.to_vec(),
        }
        .write(&mut stream)
        .unwrap();
        let error = vm.join().unwrap().unwrap_err();
        assert!(matches!(error, VmHandshakeError::Version(2)));
        assert!(error.to_string().contains("upgrade the client"), "{error}");
    }
}
