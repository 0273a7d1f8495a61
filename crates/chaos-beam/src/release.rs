//! Attach to a release by its folder (a rebar3/relx or mix release): the
//! node name and the cookie, read from the release's own files, the way its
//! start script finds them. Where the node was started with other values
//! (environment variables of its own shell), pass `--node`/`--cookie-file`.
//!
//! * node name: `RELEASE_NODE` in our environment; else `-sname`/`-name` in
//!   `releases/VSN/vm.args`; else `RELEASE_NODE` in `releases/VSN/env.sh`;
//!   else the release's name — with the host of this machine, short for
//!   `-sname`/`RELEASE_DISTRIBUTION=sname` (mix's default);
//! * cookie: `RELEASE_COOKIE` in our environment; else `releases/COOKIE`
//!   (mix); else `-setcookie` in `vm.args` (relx).

use crate::dist::{Cookie, CookieError, CookieSource, NodeName};
use std::path::{Path, PathBuf};

/// What a release folder says about how to reach its node.
#[derive(Debug)]
pub struct Release {
    /// The release's name.
    pub name: String,
    /// Its node.
    pub node: NodeName,
    /// Where the node name came from, for messages.
    pub node_from: String,
    /// Its cookie (never printed).
    pub cookie: Cookie,
}

/// Why a folder could not be read as a release.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// No `releases/` folder.
    #[error("{0}: not a release folder (no releases/ in it; give the folder with bin/ and releases/, e.g. _build/prod/rel/NAME)")]
    NotARelease(PathBuf),
    /// No version folder with the release's files.
    #[error(
        "{0}: no version in releases/ (no start_erl.data, and not exactly one version folder)"
    )]
    NoVersion(PathBuf),
    /// No name for the node.
    #[error("{0}: the node's name is not in the release's files (no RELEASE_NODE, no -sname/-name in vm.args); pass --node")]
    NoNode(PathBuf),
    /// The name found is not a node name.
    #[error("{path}: the node name {name:?} from {from} is not valid: {error}")]
    BadNode {
        /// The release.
        path: PathBuf,
        /// The name.
        name: String,
        /// Where it came from.
        from: String,
        /// Why.
        error: String,
    },
    /// No cookie.
    #[error("{0}: the cookie is not in the release's files (no RELEASE_COOKIE, no releases/COOKIE, no -setcookie in vm.args); pass --cookie-file")]
    NoCookie(PathBuf),
    /// A cookie that cannot be used.
    #[error("{0}")]
    Cookie(#[from] CookieError),
}

/// Read the release in `dir`; `env` looks up our environment (passed in for tests).
pub fn read(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Release, ReleaseError> {
    let releases = dir.join("releases");
    if !releases.is_dir() {
        return Err(ReleaseError::NotARelease(dir.to_path_buf()));
    }
    let vsn = version(&releases).ok_or_else(|| ReleaseError::NoVersion(dir.to_path_buf()))?;
    let vsn_dir = releases.join(&vsn);
    let vm_args = std::fs::read_to_string(vsn_dir.join("vm.args")).unwrap_or_default();
    let env_sh = std::fs::read_to_string(vsn_dir.join("env.sh")).unwrap_or_default();
    let name = release_name(dir, &vsn_dir).unwrap_or_default();

    let (node, from, short) = if let Some(n) = env("RELEASE_NODE") {
        let short = env("RELEASE_DISTRIBUTION").as_deref() != Some("name");
        (n, "RELEASE_NODE".to_string(), short)
    } else if let Some(n) = flag(&vm_args, "-sname") {
        (n, "vm.args -sname".to_string(), true)
    } else if let Some(n) = flag(&vm_args, "-name") {
        (n, "vm.args -name".to_string(), false)
    } else if let Some(n) = shell_var(&env_sh, "RELEASE_NODE") {
        let short = shell_var(&env_sh, "RELEASE_DISTRIBUTION").as_deref() != Some("name");
        (n, "env.sh RELEASE_NODE".to_string(), short)
    } else if !name.is_empty() && !vm_args.contains("-sname") && !vm_args.contains("-name ") {
        // mix's default: the release's name, short names.
        (name.clone(), "the release's name".to_string(), true)
    } else {
        return Err(ReleaseError::NoNode(dir.to_path_buf()));
    };
    let full = if node.contains('@') {
        node.clone()
    } else {
        format!("{node}@{}", host(short))
    };
    let node_name: NodeName =
        full.parse()
            .map_err(|e: crate::dist::NodeNameError| ReleaseError::BadNode {
                path: dir.to_path_buf(),
                name: full.clone(),
                from: from.clone(),
                error: e.to_string(),
            })?;

    let cookie = if let Some(c) = env("RELEASE_COOKIE") {
        Cookie::new(c, CookieSource::Release("RELEASE_COOKIE".into()))?
    } else if let Ok(c) = std::fs::read_to_string(releases.join("COOKIE")) {
        Cookie::new(c.trim(), CookieSource::Release("releases/COOKIE".into()))?
    } else if let Some(c) = flag(&vm_args, "-setcookie") {
        Cookie::new(c, CookieSource::Release(format!("releases/{vsn}/vm.args")))?
    } else {
        return Err(ReleaseError::NoCookie(dir.to_path_buf()));
    };
    Ok(Release {
        name,
        node: node_name,
        node_from: from,
        cookie,
    })
}

/// The version the start script runs: `start_erl.data` ("ERTS_VSN REL_VSN"),
/// else the only version folder.
fn version(releases: &Path) -> Option<String> {
    if let Ok(data) = std::fs::read_to_string(releases.join("start_erl.data")) {
        if let Some(v) = data.split_whitespace().nth(1) {
            return Some(v.to_string());
        }
    }
    let dirs: Vec<String> = std::fs::read_dir(releases)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    match dirs.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The release's name: its `NAME.rel` in the version folder.
fn release_name(dir: &Path, vsn_dir: &Path) -> Option<String> {
    std::fs::read_dir(vsn_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .find_map(|f| f.strip_suffix(".rel").map(str::to_string))
        .or_else(|| dir.file_name().and_then(|n| n.to_str()).map(str::to_string))
}

/// The value after `name` on a line of vm.args (`-sname app`), unless it is
/// a variable the start script fills in.
fn flag(vm_args: &str, name: &str) -> Option<String> {
    vm_args.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let mut words = line.split_whitespace();
        (words.next()? == name)
            .then(|| words.next())
            .flatten()
            .filter(|v| !v.contains('$'))
            .map(str::to_string)
    })
}

/// `export NAME=value` or `NAME=value` in env.sh, when it is a plain value
/// (or a `${NAME:-default}` whose default is one).
fn shell_var(env_sh: &str, name: &str) -> Option<String> {
    env_sh.lines().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let value = line.strip_prefix(name)?.strip_prefix('=')?;
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        let value = match value.strip_prefix(&format!("${{{name}:-")) {
            Some(rest) => rest.strip_suffix('}')?,
            None => value,
        };
        (!value.is_empty() && !value.contains('$')).then(|| value.to_string())
    })
}

/// This machine's host name: the first label for short names.
fn host(short: bool) -> String {
    let full = hostname();
    if short {
        full.split('.').next().unwrap_or(&full).to_string()
    } else {
        full
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(files: &[(&str, &str)]) -> tempdir::Dir {
        let d = tempdir::Dir::new();
        for (path, text) in files {
            let p = d.0.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let p = std::env::temp_dir().join(format!(
                    "cm-release-test-{}-{}",
                    std::process::id(),
                    rand::random::<u64>()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_relx_release_names_its_node_and_cookie_in_vm_args() {
        let d = release(&[
            ("releases/start_erl.data", "13.2 1.0.0\n"),
            ("releases/1.0.0/shop.rel", "{release, ...}."),
            (
                "releases/1.0.0/vm.args",
                "## Name of the node\n-sname shop_1\n\n-setcookie s3cret\n+K true\n",
            ),
        ]);
        let r = read(&d.0, &none).unwrap();
        assert_eq!(r.name, "shop");
        assert!(r.node.to_string().starts_with("shop_1@"), "{}", r.node);
        assert!(
            !r.node.to_string().contains('.'),
            "a short host: {}",
            r.node
        );
        assert_eq!(r.node_from, "vm.args -sname");
        assert_eq!(r.cookie.secret(), "s3cret");
        assert_eq!(
            r.cookie.source().to_string(),
            "the release's releases/1.0.0/vm.args"
        );
    }

    #[test]
    fn a_mix_release_uses_its_cookie_file_and_its_name() {
        let d = release(&[
            ("releases/COOKIE", "MIXCOOKIE\n"),
            ("releases/start_erl.data", "13.2 0.1.0"),
            ("releases/0.1.0/cart.rel", ""),
            ("releases/0.1.0/vm.args", "## +K true\n"),
            (
                "releases/0.1.0/env.sh",
                "#!/bin/sh\n# export RELEASE_NODE=<%= @release.name %>\n",
            ),
        ]);
        let r = read(&d.0, &none).unwrap();
        assert!(r.node.to_string().starts_with("cart@"), "{}", r.node);
        assert_eq!(r.node_from, "the release's name");
        assert_eq!(r.cookie.secret(), "MIXCOOKIE");
        // env.sh and our environment win, in that order of strength.
        std::fs::write(
            d.0.join("releases/0.1.0/env.sh"),
            "export RELEASE_DISTRIBUTION=name\nexport RELEASE_NODE=${RELEASE_NODE:-cart_a@127.0.0.1}\n",
        )
        .unwrap();
        let r = read(&d.0, &none).unwrap();
        assert_eq!(r.node.to_string(), "cart_a@127.0.0.1");
        let env = |k: &str| match k {
            "RELEASE_NODE" => Some("other".to_string()),
            "RELEASE_COOKIE" => Some("ENVCOOKIE".to_string()),
            _ => None,
        };
        let r = read(&d.0, &env).unwrap();
        assert!(r.node.to_string().starts_with("other@"), "{}", r.node);
        assert_eq!(r.cookie.secret(), "ENVCOOKIE");
    }

    #[test]
    fn what_is_missing_is_named() {
        let d = release(&[]);
        let e = read(&d.0, &none).unwrap_err().to_string();
        assert!(e.contains("not a release folder"), "{e}");
        let d = release(&[("releases/1.0.0/vm.args", "-sname a\n")]);
        let e = read(&d.0, &none).unwrap_err().to_string();
        assert!(
            e.contains("the cookie is not in the release's files"),
            "{e}"
        );
        let d = release(&[
            (
                "releases/1.0.0/vm.args",
                "-sname ${NODE_NAME}\n-setcookie x\n",
            ),
            ("releases/2.0.0/vm.args", ""),
        ]);
        let e = read(&d.0, &none).unwrap_err().to_string();
        assert!(e.contains("no version in releases/"), "{e}");
    }
}
