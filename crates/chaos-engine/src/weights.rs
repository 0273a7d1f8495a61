//! Weighted choice among named things (chaos categories, operations).

use crate::rng::SeededRng;
use std::fmt;

/// Non-negative integer weights by name; at least one is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights {
    entries: Vec<(String, u32)>,
    total: u64,
}

/// Why a weights specification is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    /// An entry is not `name=number`.
    #[error("weight entry {index} ('{entry}') is not NAME=NUMBER")]
    Syntax {
        /// 1-based position in the list.
        index: usize,
        /// The entry.
        entry: String,
    },
    /// A weight is not a non-negative integer.
    #[error("weight for '{name}' is '{value}'; weights are whole numbers ≥ 0")]
    BadNumber {
        /// Name.
        name: String,
        /// Value as given.
        value: String,
    },
    /// A name is not one of those allowed.
    #[error("unknown name '{name}'; expected one of: {}", .allowed.join(", "))]
    UnknownName {
        /// Name given.
        name: String,
        /// Names allowed.
        allowed: Vec<String>,
    },
    /// A name appears twice.
    #[error("'{0}' is given twice")]
    Duplicate(String),
    /// Every weight is zero.
    #[error("the weights add up to 0; at least one must be positive")]
    AllZero,
}

impl Weights {
    /// Weights from pairs; fails when all are zero or a name repeats.
    pub fn new<S: Into<String>>(
        pairs: impl IntoIterator<Item = (S, u32)>,
    ) -> Result<Self, WeightsError> {
        let mut entries: Vec<(String, u32)> = Vec::new();
        for (name, w) in pairs {
            let name = name.into();
            if entries.iter().any(|(n, _)| *n == name) {
                return Err(WeightsError::Duplicate(name));
            }
            entries.push((name, w));
        }
        let total = entries.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return Err(WeightsError::AllZero);
        }
        Ok(Self { entries, total })
    }

    /// Parse `a=30,b=20`; names must be in `allowed`. Names not mentioned get weight 0.
    pub fn parse(spec: &str, allowed: &[&str]) -> Result<Self, WeightsError> {
        let mut pairs = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            let Some((name, value)) = entry.split_once('=') else {
                return Err(WeightsError::Syntax {
                    index: i + 1,
                    entry: entry.to_string(),
                });
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                return Err(WeightsError::Syntax {
                    index: i + 1,
                    entry: entry.to_string(),
                });
            }
            if !allowed.contains(&name) {
                return Err(WeightsError::UnknownName {
                    name: name.to_string(),
                    allowed: allowed.iter().map(|s| s.to_string()).collect(),
                });
            }
            let w: u32 = value.parse().map_err(|_| WeightsError::BadNumber {
                name: name.to_string(),
                value: value.to_string(),
            })?;
            pairs.push((name.to_string(), w));
        }
        Self::new(pairs)
    }

    /// Pick a name with probability proportional to its weight.
    pub fn pick(&self, rng: &mut SeededRng) -> &str {
        let mut x = rng.range_inclusive(0, self.total - 1);
        for (name, w) in &self.entries {
            let w = u64::from(*w);
            if x < w {
                return name;
            }
            x -= w;
        }
        unreachable!("total is the sum of the weights")
    }

    /// The weight of `name` (0 when absent).
    pub fn weight(&self, name: &str) -> u32 {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| *w)
            .unwrap_or(0)
    }

    /// The share of `name`, 0.0–1.0.
    pub fn share(&self, name: &str) -> f64 {
        f64::from(self.weight(name)) / self.total as f64
    }
}

impl fmt::Display for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .entries
            .iter()
            .map(|(n, w)| format!("{n}={w}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATS: &[&str] = &["process", "memory", "network", "state", "timing"];

    #[test]
    fn parses_the_seed_defaults() {
        let w = Weights::parse("process=30,memory=20,network=20,state=15,timing=15", CATS).unwrap();
        assert_eq!(w.weight("memory"), 20);
        assert!((w.share("process") - 0.30).abs() < 1e-9);
        assert_eq!(
            w.to_string(),
            "process=30,memory=20,network=20,state=15,timing=15"
        );
    }

    #[test]
    fn precise_errors() {
        assert_eq!(
            Weights::parse("process=30,memory", CATS),
            Err(WeightsError::Syntax {
                index: 2,
                entry: "memory".into()
            })
        );
        assert!(matches!(
            Weights::parse("proces=1", CATS),
            Err(WeightsError::UnknownName { .. })
        ));
        assert!(matches!(
            Weights::parse("process=-1", CATS),
            Err(WeightsError::BadNumber { .. })
        ));
        assert!(matches!(
            Weights::parse("process=NaN", CATS),
            Err(WeightsError::BadNumber { .. })
        ));
        assert_eq!(
            Weights::parse("process=0,memory=0", CATS),
            Err(WeightsError::AllZero)
        );
        assert_eq!(
            Weights::parse("process=1,process=2", CATS),
            Err(WeightsError::Duplicate("process".into()))
        );
    }

    #[test]
    fn picks_follow_the_weights_and_the_seed() {
        let w = Weights::parse("process=30,memory=20,network=20,state=15,timing=15", CATS).unwrap();
        let mut rng = SeededRng::new(42);
        let n = 100_000;
        let mut counts = std::collections::HashMap::new();
        for _ in 0..n {
            *counts.entry(w.pick(&mut rng).to_string()).or_insert(0u32) += 1;
        }
        for cat in CATS {
            let got = f64::from(counts[*cat]) / f64::from(n);
            assert!((got - w.share(cat)).abs() < 0.01, "{cat}: {got}");
        }
        let replay: Vec<String> = {
            let mut r = SeededRng::new(42);
            (0..20).map(|_| w.pick(&mut r).to_string()).collect()
        };
        let again: Vec<String> = {
            let mut r = SeededRng::new(42);
            (0..20).map(|_| w.pick(&mut r).to_string()).collect()
        };
        assert_eq!(replay, again);
    }

    #[test]
    fn zero_weight_is_never_picked() {
        let w = Weights::parse("process=1,network=0", CATS).unwrap();
        let mut rng = SeededRng::new(3);
        assert!((0..1000).all(|_| w.pick(&mut rng) == "process"));
    }
}
