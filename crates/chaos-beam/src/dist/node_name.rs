//! Parsing and validating `NAME@HOST` node names, `-sname` and `-name` style.

use std::fmt;
use std::str::FromStr;

/// A target node's name, `name@host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeName {
    name: String,
    host: String,
}

/// Why a node name is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeNameError {
    /// No `@` at all.
    #[error("node name '{0}' has no host part: use NAME@HOST, for example {0}@localhost")]
    MissingHost(String),
    /// Empty name before `@`.
    #[error(
        "node name '{0}' has an empty name before '@': use NAME@HOST, for example app@localhost"
    )]
    EmptyName(String),
    /// Empty host after `@`.
    #[error(
        "node name '{0}' has an empty host after '@': use NAME@HOST, for example app@localhost"
    )]
    EmptyHost(String),
    /// A character Erlang does not accept in the name part.
    #[error("node name '{full}' contains '{ch}' in its name part; only letters, digits, '_' and '-' are allowed")]
    BadChar {
        /// The whole name given.
        full: String,
        /// The offending character.
        ch: char,
    },
}

impl NodeName {
    /// The part before `@`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The part after `@`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `true` for `-name` style nodes (host is a fully qualified name or an IP address).
    pub fn is_long(&self) -> bool {
        self.host.contains('.') || self.host.contains(':')
    }
}

impl FromStr for NodeName {
    type Err = NodeNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((name, host)) = s.split_once('@') else {
            return Err(NodeNameError::MissingHost(s.to_string()));
        };
        if name.is_empty() {
            return Err(NodeNameError::EmptyName(s.to_string()));
        }
        if host.is_empty() {
            return Err(NodeNameError::EmptyHost(s.to_string()));
        }
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(NodeNameError::BadChar {
                full: s.to_string(),
                ch,
            });
        }
        Ok(Self {
            name: name.to_string(),
            host: host.to_string(),
        })
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_long_names() {
        let n: NodeName = "app@localhost".parse().unwrap();
        assert_eq!(
            (n.name(), n.host(), n.is_long()),
            ("app", "localhost", false)
        );
        let n: NodeName = "app@127.0.0.1".parse().unwrap();
        assert!(n.is_long());
        let n: NodeName = "rabbit@db1.example.org".parse().unwrap();
        assert!(n.is_long());
    }

    #[test]
    fn rejects_names_without_host() {
        let e = "app".parse::<NodeName>().unwrap_err();
        assert!(e.to_string().contains("has no host part"), "{e}");
        assert!(matches!(
            "@h".parse::<NodeName>(),
            Err(NodeNameError::EmptyName(_))
        ));
        assert!(matches!(
            "a@".parse::<NodeName>(),
            Err(NodeNameError::EmptyHost(_))
        ));
        assert!(matches!(
            "a b@h".parse::<NodeName>(),
            Err(NodeNameError::BadChar { ch: ' ', .. })
        ));
    }
}
