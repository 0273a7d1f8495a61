//! Where the Erlang cookie comes from, in `erl`'s order: `--cookie`,
//! `--cookie-file PATH`, `$ERLANG_COOKIE`, `~/.erlang.cookie`.
//!
//! The value is a secret: [`Cookie`] never prints it (`Debug` and `Display`
//! show only where it came from) and no error message contains it.

use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable consulted after the flags.
pub const COOKIE_ENV: &str = "ERLANG_COOKIE";

/// Where a cookie was found; safe to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieSource {
    /// `--cookie` on the command line.
    Flag,
    /// `--cookie-file PATH`.
    File(PathBuf),
    /// The `ERLANG_COOKIE` environment variable.
    Env,
    /// `~/.erlang.cookie`.
    HomeFile(PathBuf),
    /// A release's own files (`releases/COOKIE`, `vm.args`) or `RELEASE_COOKIE`.
    Release(String),
}

impl fmt::Display for CookieSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag => write!(f, "--cookie"),
            Self::File(p) => write!(f, "--cookie-file {}", p.display()),
            Self::Env => write!(f, "the {COOKIE_ENV} environment variable"),
            Self::HomeFile(p) => write!(f, "{}", p.display()),
            Self::Release(w) => write!(f, "the release's {w}"),
        }
    }
}

/// An Erlang cookie and where it came from.
#[derive(Clone)]
pub struct Cookie {
    value: String,
    source: CookieSource,
}

/// Why no cookie could be had.
#[derive(Debug, thiserror::Error)]
pub enum CookieError {
    /// A cookie file could not be read.
    #[error("cannot read the cookie file {path}: {error}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The cookie found is empty.
    #[error("the cookie from {0} is empty")]
    Empty(CookieSource),
    /// No source had one.
    #[error("no Erlang cookie: pass --cookie or --cookie-file, set {COOKIE_ENV}, or create ~/.erlang.cookie")]
    Missing,
}

impl Cookie {
    /// A cookie from an explicit source (for tests and embedding).
    pub fn new(value: impl Into<String>, source: CookieSource) -> Result<Self, CookieError> {
        let value = value.into();
        if value.is_empty() {
            return Err(CookieError::Empty(source));
        }
        Ok(Self { value, source })
    }

    /// Resolve the cookie in `erl`'s order of precedence.
    pub fn resolve(flag: Option<&str>, file: Option<&Path>) -> Result<Self, CookieError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let env = std::env::var(COOKIE_ENV).ok();
        Self::resolve_from(flag, file, env.as_deref(), home.as_deref())
    }

    /// [`Cookie::resolve`] with the environment passed in, so it can be tested.
    pub fn resolve_from(
        flag: Option<&str>,
        file: Option<&Path>,
        env: Option<&str>,
        home: Option<&Path>,
    ) -> Result<Self, CookieError> {
        if let Some(v) = flag {
            return Self::new(v, CookieSource::Flag);
        }
        if let Some(path) = file {
            return Self::from_file(path, CookieSource::File(path.to_path_buf()));
        }
        if let Some(v) = env {
            return Self::new(v, CookieSource::Env);
        }
        if let Some(home) = home {
            let path = home.join(".erlang.cookie");
            if path.exists() {
                return Self::from_file(&path, CookieSource::HomeFile(path.clone()));
            }
        }
        Err(CookieError::Missing)
    }

    fn from_file(path: &Path, source: CookieSource) -> Result<Self, CookieError> {
        let text = std::fs::read_to_string(path).map_err(|error| CookieError::Unreadable {
            path: path.to_path_buf(),
            error,
        })?;
        Self::new(text.trim(), source)
    }

    /// The secret itself; only the handshake should call this.
    pub(crate) fn secret(&self) -> &str {
        &self.value
    }

    /// Where it came from (safe to print).
    pub fn source(&self) -> &CookieSource {
        &self.source
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie(<redacted>, from {})", self.source)
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<cookie from {}>", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_follows_erl() {
        let dir = std::env::temp_dir().join(format!("cm-cookie-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c");
        std::fs::write(&file, "FROMFILE\n").unwrap();
        std::fs::write(dir.join(".erlang.cookie"), "FROMHOME").unwrap();

        let c = Cookie::resolve_from(Some("FLAG"), Some(&file), Some("ENV"), Some(&dir)).unwrap();
        assert_eq!((c.secret(), c.source()), ("FLAG", &CookieSource::Flag));
        let c = Cookie::resolve_from(None, Some(&file), Some("ENV"), Some(&dir)).unwrap();
        assert_eq!(c.secret(), "FROMFILE");
        let c = Cookie::resolve_from(None, None, Some("ENV"), Some(&dir)).unwrap();
        assert_eq!((c.secret(), c.source()), ("ENV", &CookieSource::Env));
        let c = Cookie::resolve_from(None, None, None, Some(&dir)).unwrap();
        assert_eq!(c.secret(), "FROMHOME");
        assert!(matches!(
            Cookie::resolve_from(None, None, None, None),
            Err(CookieError::Missing)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_prints_the_value() {
        let c = Cookie::new("SECRETVALUE", CookieSource::Env).unwrap();
        assert!(!format!("{c:?} {c}").contains("SECRETVALUE"));
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = Cookie::resolve_from(None, Some(Path::new("/nonexistent/cookie")), None, None)
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/cookie"), "{e}");
    }
}
