//! The five chaos categories of the seed, and the run profiles.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A chaos category. Every operation belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Killing, spawning, signalling the target's units of work.
    Process,
    /// Allocating and holding memory, flooding queues.
    Memory,
    /// Sockets, proxies, connections.
    Network,
    /// Shared state: tables, name registries.
    State,
    /// Suspensions, priorities, scheduler contention.
    Timing,
}

impl Category {
    /// All categories in report order.
    pub const ALL: [Category; 5] = [
        Category::Process,
        Category::Memory,
        Category::Network,
        Category::State,
        Category::Timing,
    ];

    /// The lowercase name used in flags, config and reports.
    pub fn name(self) -> &'static str {
        match self {
            Category::Process => "process",
            Category::Memory => "memory",
            Category::Network => "network",
            Category::State => "state",
            Category::Timing => "timing",
        }
    }

    /// All names, for error messages and parsing.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|c| c.name()).collect()
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown category '{s}'; expected one of: {}",
                    Self::names().join(", ")
                )
            })
    }
}

/// How hard the monkey hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The seed's demo level: bounded, reversible, survivable by a sound system.
    #[default]
    Demo,
    /// Larger allocations, longer holds; irreversible operations need their own `--allow-…` flags.
    Aggressive,
}

impl Profile {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Demo => "demo",
            Profile::Aggressive => "aggressive",
        }
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "demo" => Ok(Profile::Demo),
            "aggressive" => Ok(Profile::Aggressive),
            other => Err(format!(
                "unknown profile '{other}'; expected demo or aggressive"
            )),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
