//! Reading files within a size limit, the one way all three binaries (`movac`, `mova`, `movahv`)
//! read their inputs: sources, bytecode and state images. A huge or endless file (a device, a
//! pipe) can never make them allocate without bound.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened or read.
    #[error("cannot read `{file}`: {source}")]
    Io {
        /// The file's name.
        file: String,
        source: io::Error,
    },
    /// It is larger than the limit.
    #[error("`{file}` is too large: the limit is {limit} bytes")]
    TooLarge {
        /// The file's name.
        file: String,
        limit: usize,
    },
}

impl ReadError {
    /// The file the error is about, as it was named.
    pub fn file(&self) -> &str {
        match self {
            ReadError::Io { file, .. } | ReadError::TooLarge { file, .. } => file,
        }
    }
}

/// Reads at most `limit` bytes of `path`, failing if the file is longer.
pub fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, ReadError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| ReadError::Io {
        file: name.clone(),
        source,
    })?;
    // A regular file that is too large is refused by its size, without reading it; anything else
    // (a pipe, a device) is read up to the limit.
    let declared = file.metadata().ok().filter(std::fs::Metadata::is_file);
    if declared.is_some_and(|meta| meta.len() > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(ReadError::TooLarge { file: name, limit });
    }
    read_capped(file, limit, &name)
}

/// Reads at most `limit` bytes from `reader` (called `name` in errors), failing if there are more.
pub fn read_capped(reader: impl Read, limit: usize, name: &str) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            file: name.to_owned(),
            source,
        })?;
    if bytes.len() > limit {
        return Err(ReadError::TooLarge {
            file: name.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_longer_than_the_limit_is_refused_and_one_at_it_is_read() {
        assert_eq!(read_capped(&b"abc"[..], 3, "s").unwrap(), b"abc");
        let error = read_capped(&b"abcd"[..], 3, "s").unwrap_err();
        assert!(
            matches!(error, ReadError::TooLarge { limit: 3, .. }),
            "{error}"
        );
        assert_eq!(error.to_string(), "`s` is too large: the limit is 3 bytes");
    }
}
