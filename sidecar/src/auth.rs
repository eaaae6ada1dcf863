//! Admin API authentication: the bearer token, where it comes from, and how it is checked.
//!
//! Owns: loading the token from the configuration or the data dir, generating and storing it
//! (owner-only, mode 0600) at first start, and the constant-time check of `Authorization`
//! headers. Does not own: the data-dir lock (see `datadir`) nor routing.

use rand::RngCore;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The file in the data dir holding a generated token.
pub const TOKEN_FILE: &str = "admin.token";

/// Why the admin token could not be set up.
#[derive(Debug, Error)]
pub enum TokenError {
    /// The token file could not be read or written.
    #[error("admin token file {path}: {source}")]
    Io {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configured or stored token is empty or not printable ASCII.
    #[error("admin token from {origin} is empty or has characters other than printable ASCII")]
    Malformed {
        /// Where it came from.
        origin: String,
    },
}

/// Where the token came from, so the binary can say so once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `admin.token` / `ACD_ADMIN_TOKEN` / `--admin-token`.
    Configured,
    /// Read from the token file written at an earlier start.
    Stored(PathBuf),
    /// Generated now and written to the token file: print it, once.
    Generated(PathBuf),
}

/// The admin bearer token. Only its SHA-256 is kept, so checks compare fixed-size digests in
/// constant time and do not leak the token's length.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// A token from its secret text.
    pub fn new(secret: &str) -> Self {
        AdminToken {
            digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// Whether an `Authorization` header value carries this token (`Bearer <token>`).
    pub fn accepts_header(&self, header: Option<&[u8]>) -> bool {
        let Some(value) = header else { return false };
        let Some(secret) = strip_bearer(value) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(secret).into();
        digest.ct_eq(&self.digest).into()
    }

    /// Resolves the token: the configured one, else the stored one, else a new one written to
    /// `<data_dir>/admin.token` with mode 0600. Returns the secret only when just generated.
    pub fn resolve(
        configured: Option<&str>,
        data_dir: &Path,
    ) -> Result<(AdminToken, TokenSource, Option<String>), TokenError> {
        if let Some(secret) = configured {
            check_printable(secret, "the configuration")?;
            return Ok((AdminToken::new(secret), TokenSource::Configured, None));
        }
        let path = data_dir.join(TOKEN_FILE);
        let io = |source| TokenError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let secret = text.trim();
                check_printable(secret, &path.display().to_string())?;
                Ok((
                    AdminToken::new(secret),
                    TokenSource::Stored(path.clone()),
                    None,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = generate();
                let mut file = create_owner_only(&path).map_err(io)?;
                file.write_all(format!("{secret}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
                Ok((
                    AdminToken::new(&secret),
                    TokenSource::Generated(path.clone()),
                    Some(secret),
                ))
            }
            Err(e) => Err(io(e)),
        }
    }
}

fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.first()?.is_ascii_whitespace() {
        return None;
    }
    Some(rest.trim_ascii())
}

fn check_printable(secret: &str, origin: &str) -> Result<(), TokenError> {
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Malformed {
            origin: origin.to_owned(),
        });
    }
    Ok(())
}

fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(unix)]
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_right_bearer_token() {
        let token = AdminToken::new("abc123");
        assert!(token.accepts_header(Some(b"Bearer abc123")));
        assert!(token.accepts_header(Some(b"bearer  abc123 ")));
    }

    #[test]
    fn refuses_wrong_missing_or_non_bearer_credentials() {
        let token = AdminToken::new("abc123");
        assert!(!token.accepts_header(None));
        assert!(!token.accepts_header(Some(b"Bearer abc124")));
        assert!(!token.accepts_header(Some(b"Bearer abc1234")));
        assert!(!token.accepts_header(Some(b"Basic abc123")));
        assert!(!token.accepts_header(Some(b"Bearerabc123")));
        assert!(!token.accepts_header(Some(b"abc123")));
        assert!(!token.accepts_header(Some(b"Bearer ")));
    }

    #[test]
    fn generated_token_is_stored_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, source, secret) = AdminToken::resolve(None, dir.path()).unwrap();
        let secret = secret.expect("a generated token is returned once");
        assert_eq!(source, TokenSource::Generated(dir.path().join(TOKEN_FILE)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (token, source, again) = AdminToken::resolve(None, dir.path()).unwrap();
        assert!(again.is_none());
        assert!(matches!(source, TokenSource::Stored(_)));
        assert!(token.accepts_header(Some(format!("Bearer {secret}").as_bytes())));
    }

    #[test]
    fn configured_token_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (token, source, secret) = AdminToken::resolve(Some("t0k"), dir.path()).unwrap();
        assert_eq!(source, TokenSource::Configured);
        assert!(secret.is_none());
        assert!(token.accepts_header(Some(b"Bearer t0k")));
        assert!(!dir.path().join(TOKEN_FILE).exists());
    }

    #[test]
    fn configured_token_with_spaces_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AdminToken::resolve(Some("a b"), dir.path()).is_err());
    }
}
