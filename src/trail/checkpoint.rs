//! Ed25519 checkpoints and their key files.
//!
//! Key files (SPEC.md, `keygen`): `trail-signing.key` holds the 32-byte seed as 64 hex digits and
//! a newline (mode 0600), `trail-signing.pub` the 32-byte public key the same way. A checkpoint
//! names its key by `key_id`, the first 16 hex digits of BLAKE3 of the public key's bytes, and
//! signs `"trailmask-checkpoint:" + chain + ":" + covers_seq + ":" + covers_hash`.
//!
//! Signing and checking are pure; only the key-file functions touch the disk.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::record::{self, Checkpoint};

/// File name of the private key `keygen` writes.
pub const SIGNING_KEY_FILE: &str = "trail-signing.key";
/// File name of the public key `keygen` writes.
pub const PUBLIC_KEY_FILE: &str = "trail-signing.pub";
/// Hex digits of a `key_id`.
pub const KEY_ID_LEN: usize = 16;
/// Owner read/write only: the seed is the trail's signing authority.
const SECRET_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} does not hold 64 hex digits and a newline")]
    Format { path: PathBuf },
    #[error("key file {path} is not an Ed25519 public key")]
    NotEd25519 { path: PathBuf },
    #[error("{path} already exists; keygen does not overwrite keys")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot get random bytes for a key: {0}")]
    Random(String),
}

/// A loaded signing key and its `key_id`.
#[derive(Clone)]
pub struct Signer25519 {
    key: SigningKey,
    key_id: String,
}

impl fmt::Debug for Signer25519 {
    /// Never prints the seed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer25519(key_id={})", self.key_id)
    }
}

impl Signer25519 {
    pub fn from_seed(seed: [u8; 32]) -> Signer25519 {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(&key.verifying_key());
        Signer25519 { key, key_id }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The checkpoint body covering record `covers_seq` with hash `covers_hash`.
    pub fn checkpoint(&self, chain: &str, covers_seq: u64, covers_hash: &str) -> Checkpoint {
        let sig = self
            .key
            .sign(message(chain, covers_seq, covers_hash).as_bytes());
        Checkpoint {
            covers_seq,
            covers_hash: covers_hash.to_owned(),
            key_id: self.key_id.clone(),
            sig: record::hex_encode(&sig.to_bytes()),
            stop: false,
            recovery: None,
        }
    }
}

/// `key_id`: the first 16 hex digits of BLAKE3 of the public key's 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    let mut hex = blake3::hash(key.as_bytes()).to_hex().to_string();
    hex.truncate(KEY_ID_LEN);
    hex
}

/// The signed message of a checkpoint.
pub fn message(chain: &str, covers_seq: u64, covers_hash: &str) -> String {
    format!("trailmask-checkpoint:{chain}:{covers_seq}:{covers_hash}")
}

/// Whether `sig_hex` (128 hex digits) is `key`'s signature over the checkpoint message.
pub fn check(
    key: &VerifyingKey,
    chain: &str,
    covers_seq: u64,
    covers_hash: &str,
    sig_hex: &str,
) -> bool {
    let Some(bytes) = record::decode_hex::<64>(sig_hex) else {
        return false;
    };
    let sig = Signature::from_bytes(&bytes);
    key.verify(message(chain, covers_seq, covers_hash).as_bytes(), &sig)
        .is_ok()
}

// === Key files ===

fn read_hex32(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let digits = text.strip_suffix('\n').unwrap_or(&text).trim();
    record::decode_hex::<32>(&digits.to_ascii_lowercase()).ok_or_else(|| KeyError::Format {
        path: path.to_owned(),
    })
}

/// Loads a `trail-signing.key`.
pub fn load_signing_key(path: &Path) -> Result<Signer25519, KeyError> {
    read_hex32(path).map(Signer25519::from_seed)
}

/// Loads a `trail-signing.pub`.
pub fn load_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = read_hex32(path)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::NotEd25519 {
        path: path.to_owned(),
    })
}

/// The two files `keygen` wrote.
#[derive(Debug)]
pub struct KeyFiles {
    pub secret: PathBuf,
    pub public: PathBuf,
    pub key_id: String,
}

fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), KeyError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists {
                path: path.to_owned(),
            },
            _ => KeyError::Write {
                path: path.to_owned(),
                source,
            },
        })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| KeyError::Write {
            path: path.to_owned(),
            source,
        })
}

/// Writes a fresh key pair into `dir` (created if missing); refuses to overwrite either file.
pub fn keygen(dir: &Path) -> Result<KeyFiles, KeyError> {
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let secret = dir.join(SIGNING_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    for path in [&secret, &public] {
        if path.exists() {
            return Err(KeyError::Exists { path: path.clone() });
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let signer = Signer25519::from_seed(seed);
    write_new(
        &secret,
        &format!("{}\n", record::hex_encode(&seed)),
        SECRET_MODE,
    )?;
    write_new(
        &public,
        &format!(
            "{}\n",
            record::hex_encode(signer.verifying_key().as_bytes())
        ),
        0o644,
    )?;
    Ok(KeyFiles {
        secret,
        public,
        key_id: signer.key_id().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keygen_writes_files_that_load_and_sign() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("keys");
        let files = keygen(&out).unwrap();
        let secret_text = std::fs::read_to_string(&files.secret).unwrap();
        assert_eq!(secret_text.len(), 65);
        assert!(secret_text.ends_with('\n'));
        let mode = std::fs::metadata(&files.secret)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let signer = load_signing_key(&files.secret).unwrap();
        let public = load_public_key(&files.public).unwrap();
        assert_eq!(key_id(&public), files.key_id);
        assert_eq!(files.key_id.len(), KEY_ID_LEN);
        let hash = "ab".repeat(32);
        let cp = signer.checkpoint("c1", 9, &hash);
        assert_eq!(cp.sig.len(), 128);
        assert!(check(&public, "c1", 9, &hash, &cp.sig));
        assert!(!check(&public, "c2", 9, &hash, &cp.sig));
        assert!(!check(&public, "c1", 10, &hash, &cp.sig));
        assert!(matches!(keygen(&out), Err(KeyError::Exists { .. })));
    }

    #[test]
    fn bad_key_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pub");
        std::fs::write(&p, "zz\n").unwrap();
        let e = load_public_key(&p).unwrap_err().to_string();
        assert!(e.contains("k.pub"), "{e}");
        assert!(load_public_key(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn message_is_spec_text() {
        assert_eq!(
            message("db-1", 42, "00ff"),
            "trailmask-checkpoint:db-1:42:00ff"
        );
    }
}
