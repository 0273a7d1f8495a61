//! ETS shape invariants: each named table's arity and, per position, the
//! type every sampled row agreed on, learnt at the baseline
//! (`snippets/shapes.erl`) and checked by the steady state every sample.

use super::TableState;
use crate::chaos::BeamTarget;
use crate::dist::json::to_json;
use crate::dist::term::{atom, int, list};
use crate::eval::eval_with_timeout;
use serde::Deserialize;

/// The named tables' shape invariants, learnt at the baseline.
pub(crate) const SHAPES: &str = concat!(
    include_str!("../../snippets/shape_tag.erl"),
    include_str!("../../snippets/shapes.erl")
);

/// Rows sampled per table to learn its shape (one `ets:select` chunk).
pub(super) const SHAPE_SAMPLE_ROWS: i64 = 50;

/// Tables over this many rows get no shape invariant: checking one is a
/// scan of the table every second.
pub const SHAPE_MAX_ROWS: i64 = 100_000;

/// A row that breaks its table's shape, as the node reports it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ShapeBreak {
    pub(crate) table: String,
    pub(crate) key: String,
    pub(crate) expected: String,
    pub(crate) found: String,
    /// The row carries the monkey's own `ets_modify` marker.
    pub(crate) injected: bool,
}

/// A named table's shape at the baseline: its arity, and per position the
/// type tag every sampled row agreed on (`any` where they differed).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct TableShape {
    pub(crate) table: String,
    pub(crate) arity: u64,
    pub(crate) tags: Vec<String>,
    /// How many rows it was learnt from.
    pub(crate) rows: u64,
}

/// A named table that got no shape invariant, and why.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ShapeSkipped {
    pub(crate) table: String,
    pub(crate) why: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Shapes {
    pub(crate) shapes: Vec<TableShape>,
    pub(crate) skipped: Vec<ShapeSkipped>,
}

/// The named tables' shape invariants (`snippets/shapes.erl`); none when
/// they cannot be read.
pub(super) async fn learn_shapes(target: &BeamTarget, tables: &[TableState]) -> Shapes {
    let bindings = [
        (
            "Tables",
            list(tables.iter().map(|t| atom(&t.name)).collect()),
        ),
        ("SampleRows", int(SHAPE_SAMPLE_ROWS)),
        ("MaxRows", int(SHAPE_MAX_ROWS)),
    ];
    match eval_with_timeout(&target.client, SHAPES, &bindings, crate::chaos::OP_TIMEOUT).await {
        Ok(t) => serde_json::from_value(to_json(&t)).unwrap_or_default(),
        Err(e) => {
            tracing::debug!(error = %e, "could not learn the tables' shapes");
            Shapes::default()
        }
    }
}
