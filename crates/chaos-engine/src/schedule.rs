//! The generator: what happens when. A lazy, seeded sequence of planned
//! operations at a fixed rate; the same seed and settings give the same
//! (time, category, op, params) sequence whatever the target does.
//!
//! Categories are drawn from shuffled *bags* that hold each category in
//! proportion to its weight (30/20/15/15 reduces to a bag of 6+4+3+3): the
//! order is random, yet over any run the shares stay within a bag's worth of
//! the weights instead of drifting by chance. Operations inside a category
//! are drawn independently by their own weights.

use crate::category::{Category, Profile};
use crate::operation::Operation;
use crate::rng::SeededRng;
use crate::weights::Weights;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One planned operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedOp {
    /// Position in the schedule, from 0.
    pub seq: u64,
    /// When, from the start of the run.
    #[serde(serialize_with = "ser_ms")]
    pub at: Duration,
    /// Category.
    pub category: Category,
    /// Operation name.
    pub op: &'static str,
    /// Parameters drawn from the op's own stream.
    pub params: Value,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Why a category with a positive weight gets no operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedCategory {
    /// The category.
    pub category: Category,
    /// Its configured weight.
    pub weight: u32,
    /// Why.
    pub reason: String,
}

/// Builds the schedule.
pub struct Schedule<C: ?Sized> {
    ops: Vec<Arc<dyn Operation<C>>>,
    category_weights: Weights,
    bag_template: Vec<Category>,
    bag: Vec<Category>,
    op_weights: BTreeMap<Category, Weights>,
    skipped: Vec<SkippedCategory>,
    rate: f64,
    total: u64,
    profile: Profile,
    root: SeededRng,
    pick_rng: SeededRng,
    op_rngs: BTreeMap<&'static str, SeededRng>,
    next: u64,
}

/// Why a schedule cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// The rate is not a positive finite number.
    #[error("the rate must be a positive number of operations per second, got {0}")]
    BadRate(f64),
    /// Nothing can run.
    #[error("no operation can run: every category with a positive weight has no enabled operation ({0})")]
    NothingToRun(String),
}

impl<C: ?Sized> Schedule<C> {
    /// A schedule over `ops` (the enabled operations, each with its weight
    /// inside its category) at `rate` per second for `duration`.
    ///
    /// Categories with a positive weight but no enabled operation are left out
    /// (the others are renormalised) and listed by [`Schedule::skipped`];
    /// `reasons` may explain why a category has none.
    pub fn new(
        seed: u64,
        rate: f64,
        duration: Duration,
        profile: Profile,
        category_weights: &BTreeMap<Category, u32>,
        ops: Vec<(Arc<dyn Operation<C>>, u32)>,
        reasons: &BTreeMap<Category, String>,
    ) -> Result<Self, ScheduleError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ScheduleError::BadRate(rate));
        }
        let mut op_weights = BTreeMap::new();
        let mut skipped = Vec::new();
        let mut cats = Vec::new();
        for cat in Category::ALL {
            let w = category_weights.get(&cat).copied().unwrap_or(0);
            if w == 0 {
                continue;
            }
            let in_cat: Vec<(&'static str, u32)> = ops
                .iter()
                .filter(|(op, ow)| op.category() == cat && *ow > 0)
                .map(|(op, ow)| (op.name(), *ow))
                .collect();
            match Weights::new(in_cat) {
                Ok(ws) => {
                    op_weights.insert(cat, ws);
                    cats.push((cat.name(), w));
                }
                Err(_) => skipped.push(SkippedCategory {
                    category: cat,
                    weight: w,
                    reason: reasons
                        .get(&cat)
                        .cloned()
                        .unwrap_or_else(|| "no operation of this category is enabled".to_string()),
                }),
            }
        }
        let category_weights = Weights::new(cats).map_err(|_| {
            ScheduleError::NothingToRun(
                skipped
                    .iter()
                    .map(|s| format!("{}: {}", s.category, s.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let root = SeededRng::new(seed);
        let op_rngs = ops
            .iter()
            .map(|(op, _)| (op.name(), root.stream(&format!("op:{}", op.name()))))
            .collect();
        let total = (duration.as_secs_f64() * rate).floor() as u64;
        let bag_template = bag_template(&category_weights);
        Ok(Self {
            ops: ops.into_iter().map(|(op, _)| op).collect(),
            category_weights,
            bag_template,
            bag: Vec::new(),
            op_weights,
            skipped,
            rate,
            total,
            profile,
            pick_rng: root.stream("schedule"),
            root,
            op_rngs,
            next: 0,
        })
    }

    /// Categories that get no operations, and why.
    pub fn skipped(&self) -> &[SkippedCategory] {
        &self.skipped
    }

    /// How many operations the schedule holds.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// `true` when it holds none.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The effective share of each scheduled category (after renormalisation).
    pub fn shares(&self) -> BTreeMap<Category, f64> {
        self.op_weights
            .keys()
            .map(|c| (*c, self.category_weights.share(c.name())))
            .collect()
    }

    /// The operation called `name`.
    pub fn op(&self, name: &str) -> Option<Arc<dyn Operation<C>>> {
        self.ops.iter().find(|o| o.name() == name).cloned()
    }

    /// A stream for victim choice and other live decisions.
    pub fn stream(&self, name: &str) -> SeededRng {
        self.root.stream(name)
    }
}

/// One of each category per unit of weight, weights reduced by their common
/// divisor and scaled down when the bag would be huge.
fn bag_template(weights: &Weights) -> Vec<Category> {
    let ws: Vec<(Category, u64)> = Category::ALL
        .iter()
        .map(|c| (*c, u64::from(weights.weight(c.name()))))
        .filter(|(_, w)| *w > 0)
        .collect();
    let g = ws.iter().fold(0, |g, (_, w)| gcd(g, *w)).max(1);
    let sum: u64 = ws.iter().map(|(_, w)| w / g).sum();
    const MAX_BAG: u64 = 1000;
    let scale = if sum > MAX_BAG {
        sum as f64 / MAX_BAG as f64
    } else {
        1.0
    };
    let mut bag = Vec::new();
    for (c, w) in ws {
        let n = (((w / g) as f64 / scale).round() as usize).max(1);
        bag.extend(std::iter::repeat_n(c, n));
    }
    bag
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl<C: ?Sized> Iterator for Schedule<C> {
    type Item = PlannedOp;

    fn next(&mut self) -> Option<PlannedOp> {
        if self.next >= self.total {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        let at = Duration::from_secs_f64(seq as f64 / self.rate);
        if self.bag.is_empty() {
            self.bag = self.bag_template.clone();
            // Fisher–Yates with the schedule's own stream.
            for i in (1..self.bag.len()).rev() {
                let j = self.pick_rng.range_inclusive(0, i as u64) as usize;
                self.bag.swap(i, j);
            }
        }
        let cat = self.bag.pop().expect("a refilled bag is not empty");
        let op_name = self.op_weights[&cat].pick(&mut self.pick_rng).to_string();
        let op = self
            .ops
            .iter()
            .find(|o| o.name() == op_name)
            .expect("weights only name enabled ops")
            .clone();
        let rng = self.op_rngs.get_mut(op.name()).expect("one stream per op");
        let params = op.plan(rng, self.profile);
        Some(PlannedOp {
            seq,
            at,
            category: cat,
            op: op.name(),
            params,
        })
    }
}
