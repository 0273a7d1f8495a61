//! Reports people and CI systems can read, rendered from the engine's
//! report model (no Erlang here):
//!
//! * [`html`] — one self-contained HTML file with inline SVG charts, built
//!   from reusable parts (page, summary card, tables, charts);
//! * [`junit`] — JUnit XML for CI.

pub mod html;
pub mod junit;

pub use html::run::render as run_html;
pub use html::scenarios::render as scenarios_html;
pub use junit::{run_junit, DETECTORS_NOT_RUN};
