//! The operations of a run and their weights: the built-in ones the
//! settings allow, the proxy faults when proxies run, and the custom ones.

use super::settings::RunSettings;
use chaos_beam::chaos::custom::CustomOp;
use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::BeamTarget;
use chaos_engine::{admit, Operation};
use std::sync::Arc;

/// The operations of a run, with their weights. Proxy faults only when proxies run.
pub(super) fn operations(s: &RunSettings) -> Vec<(Arc<dyn Operation<BeamTarget>>, u32)> {
    let mut ops = weighted(
        s,
        admit(builtin(), &s.allow).into_iter().chain(proxy_ops(s)),
    );
    ops.extend(custom_ops(s).map(|(op, w)| (op as Arc<dyn Operation<BeamTarget>>, w)));
    ops
}

/// The proxy faults, when proxies run.
pub fn proxy_ops<C: chaos_proxy::ops::ProxyHost + 'static>(
    s: &RunSettings,
) -> Vec<Arc<dyn Operation<C>>> {
    if s.proxies.is_empty() {
        Vec::new()
    } else {
        chaos_proxy::ops::proxy_ops::<C>()
    }
}

/// `ops` that `[ops.NAME]` leaves enabled, with their weights (default 1).
pub fn weighted<C: ?Sized>(
    s: &RunSettings,
    ops: impl IntoIterator<Item = Arc<dyn Operation<C>>>,
) -> Vec<(Arc<dyn Operation<C>>, u32)> {
    ops.into_iter()
        .filter_map(|op| {
            let (enabled, weight) = s.op_settings.get(op.name()).copied().unwrap_or((true, 1));
            enabled.then_some((op, weight))
        })
        .collect()
}

/// The config's custom operations, with their weights.
pub fn custom_ops(s: &RunSettings) -> impl Iterator<Item = (Arc<CustomOp>, u32)> + '_ {
    s.custom
        .iter()
        .map(|(name, cat, w, src, success)| (Arc::new(CustomOp::new(name, *cat, src, success)), *w))
}
