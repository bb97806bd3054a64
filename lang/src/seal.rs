//! Sealed state images: a `.mvs` image wrapped with an HMAC-SHA256 keyed by a secret the user
//! holds, so that a tampered, truncated or foreign image is refused before a byte of it is
//! decoded.
//!
//! ```text
//! offset  size  field
//!      0     8  signature 89 4D 53 4C 0D 0A 1A 0A ("\x89MSL\r\n\x1a\n")
//!      8     2  version (1), big-endian
//!     10    32  tag: HMAC-SHA256(key, bytes 0..10 || image)
//!     42     …  the image (`.mvs`), as it is
//! ```
//!
//! The seal authenticates; it does not encrypt (the image's program and data stay readable to
//! whoever can read the file; the channel that carries images between hosts is TLS). A key is at
//! least [`MIN_KEY_LEN`] bytes: 32 random bytes (`head -c 32 /dev/urandom`) make a good one.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature a sealed image begins with: built as the `.mvs` one, another name.
pub const SEAL_SIGNATURE: [u8; 8] = *b"\x89MSL\r\n\x1a\n";

/// The version of the sealing this build writes and reads.
pub const SEAL_VERSION: u16 = 1;

/// The bytes before the image: signature, version and tag.
pub const SEAL_HEADER_LEN: usize = 8 + 2 + 32;

/// The shortest key accepted.
pub const MIN_KEY_LEN: usize = 32;

/// Why a sealed image (or a key) is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a seal key must be at least {MIN_KEY_LEN} bytes, and this one is {0}")]
    ShortKey(usize),
    #[error(
        "the image is not sealed, and a seal key is set: refusing it before reading it (read an \
         unsealed image without a key)"
    )]
    NotSealed,
    #[error("the image is sealed: give its key to read it (--seal-key FILE, or MOVA_SEAL_KEY)")]
    NeedsKey,
    #[error(
        "the sealed image is cut short: {0} bytes, less than its {SEAL_HEADER_LEN}-byte header"
    )]
    Short(usize),
    #[error("the image is sealed with version {0} of sealing, which this build does not read")]
    Version(u16),
    #[error(
        "the image's seal does not match: it was changed or cut short, or sealed with another key"
    )]
    Mismatch,
}

/// A checked seal key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey(Vec<u8>);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({} bytes)", self.0.len())
    }
}

impl SealKey {
    /// A key of these bytes (a key file's content, without a final line break).
    pub fn new(bytes: &[u8]) -> Result<SealKey, SealError> {
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.len() < MIN_KEY_LEN {
            return Err(SealError::ShortKey(bytes.len()));
        }
        Ok(SealKey(bytes.to_vec()))
    }

    fn mac(&self, header: &[u8], image: &[u8]) -> Hmac<Sha256> {
        let mut mac = hmac_sha256(&self.0);
        mac.update(header);
        mac.update(image);
        mac
    }
}

/// HMAC-SHA256 keyed by `key`, of any length. HMAC pads a key to the hash's block, after hashing
/// one longer than the block (RFC 2104); doing that here gives the fixed-size key `Mac::new`
/// takes, so making the MAC cannot fail.
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    use sha2::Digest;
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <Hmac<Sha256> as Mac>::new(&block.into())
}

/// Whether `bytes` begin as a sealed image does.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(&SEAL_SIGNATURE)
}

/// `image` sealed with `key`.
pub fn seal(key: &SealKey, image: &[u8]) -> Vec<u8> {
    let mut header = SEAL_SIGNATURE.to_vec();
    header.extend_from_slice(&SEAL_VERSION.to_be_bytes());
    let tag = key.mac(&header, image).finalize().into_bytes();
    let mut out = Vec::with_capacity(SEAL_HEADER_LEN + image.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&tag);
    out.extend_from_slice(image);
    out
}

/// The image inside `bytes`, as `key` asks: with a key, `bytes` must be an image sealed with it
/// (checked in constant time over the whole file before anything is decoded); without one, an
/// unsealed image (a sealed one is refused: it cannot be checked).
pub fn unseal<'b>(key: Option<&SealKey>, bytes: &'b [u8]) -> Result<&'b [u8], SealError> {
    match (key, is_sealed(bytes)) {
        (None, false) => Ok(bytes),
        (None, true) => Err(SealError::NeedsKey),
        (Some(_), false) => Err(SealError::NotSealed),
        (Some(key), true) => {
            if bytes.len() < SEAL_HEADER_LEN {
                return Err(SealError::Short(bytes.len()));
            }
            let (header, rest) = bytes.split_at(10);
            let (tag, image) = rest.split_at(32);
            let version = u16::from_be_bytes([header[8], header[9]]);
            if version != SEAL_VERSION {
                return Err(SealError::Version(version));
            }
            key.mac(header, image)
                .verify_slice(tag)
                .map_err(|_| SealError::Mismatch)?;
            Ok(image)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_sealed_image_unseals_with_its_key_only() {
        let image = b"\x89MVS\r\n\x1a\nthe rest of an image".to_vec();
        let sealed = seal(&key(1), &image);
        assert!(is_sealed(&sealed));
        assert_eq!(sealed.len(), SEAL_HEADER_LEN + image.len());
        assert_eq!(unseal(Some(&key(1)), &sealed), Ok(&image[..]));
        assert_eq!(unseal(Some(&key(2)), &sealed), Err(SealError::Mismatch));
        assert_eq!(unseal(None, &sealed), Err(SealError::NeedsKey));
        assert_eq!(unseal(Some(&key(1)), &image), Err(SealError::NotSealed));
        assert_eq!(unseal(None, &image), Ok(&image[..]));
    }

    #[test]
    fn every_flip_and_every_truncation_is_refused() {
        let image: Vec<u8> = (0..200u8).collect();
        let sealed = seal(&key(3), &image);
        for at in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[at] ^= 0x40;
            assert!(unseal(Some(&key(3)), &flipped).is_err(), "flip at {at}");
        }
        for len in 0..sealed.len() {
            assert!(
                unseal(Some(&key(3)), &sealed[..len]).is_err(),
                "cut at {len}"
            );
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(unseal(Some(&key(3)), &longer), Err(SealError::Mismatch));
    }

    #[test]
    fn the_mac_is_rfc_4231s_hmac_sha256() {
        // RFC 4231, test cases 2 (a short key) and 6 (a key longer than the block).
        let tag = |key: &[u8], data: &[u8]| {
            let mut mac = hmac_sha256(key);
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        };
        let hex = |bytes: Vec<u8>| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(tag(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(tag(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn keys_are_long_enough_and_a_line_break_is_not_part_of_them() {
        assert_eq!(SealKey::new(&[7; 31]), Err(SealError::ShortKey(31)));
        let mut line = vec![b'a'; 32];
        line.push(b'\n');
        assert_eq!(
            SealKey::new(&line).unwrap(),
            SealKey::new(&[b'a'; 32]).unwrap()
        );
        let mut version = seal(&key(4), b"x");
        version[9] = 2;
        assert_eq!(unseal(Some(&key(4)), &version), Err(SealError::Version(2)));
    }
}
