//! Strategies for config files: TOML values of every type, tables with
//! known and unknown keys, whole files.

use super::*;

pub(super) fn missing_config() -> PathBuf {
    std::env::temp_dir().join("chaos-monkey-fuzz-no-such-dir/none.toml")
}

// ---------------------------------------------------------------- config --

/// A TOML basic string holding `s`.
pub(super) fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Node,
    Dur,
    Text,
    Int,
    Float,
    Bool,
    Texts,
    Proxies,
    Cat,
    Profile,
    Regex,
    Addr,
}

/// Any TOML value, of any type.
pub(super) fn toml_any() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        select(
            &[
                "nan",
                "-nan",
                "inf",
                "-inf",
                "+inf",
                "1e400",
                "0x10",
                "1_000",
                "1979-05-27"
            ][..]
        )
        .prop_map(String::from),
        any::<bool>().prop_map(|b| b.to_string()),
        value().prop_map(|s| toml_str(&s)),
        prop::collection::vec(value(), 0..3).prop_map(|v| format!(
            "[{}]",
            v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ")
        )),
        Just("{}".to_string()),
        Just("{ a = 1 }".to_string()),
    ]
    .boxed()
}

/// A TOML value for a key of `kind`: mostly the right type.
pub(super) fn toml_value(kind: Kind) -> BoxedStrategy<String> {
    let typed: BoxedStrategy<String> = match kind {
        Kind::Node => node_text().prop_map(|s| toml_str(&s)).boxed(),
        Kind::Dur => duration_text().prop_map(|s| toml_str(&s)).boxed(),
        Kind::Text => value().prop_map(|s| toml_str(&s)).boxed(),
        Kind::Int => prop_oneof![
            3 => (0i64..100).prop_map(|n| n.to_string()),
            2 => any::<i64>().prop_map(|n| n.to_string()),
            1 => select(&["0", "-1", "4294967295", "4294967296", "9223372036854775807"][..])
                .prop_map(String::from),
        ]
        .boxed(),
        Kind::Float => prop_oneof![
            3 => (0.0f64..1.5).prop_map(|f| format!("{f:?}")),
            2 => any::<f64>().prop_map(|f| format!("{f:?}")),
            1 => select(&["nan", "-nan", "inf", "-inf", "0.0", "-0.0", "1", "0", "1e308"][..])
                .prop_map(String::from),
        ]
        .boxed(),
        Kind::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        Kind::Texts => prop::collection::vec(
            prop_oneof![
                select(
                    &[
                        "db_*",
                        "*",
                        "kernel",
                        "chaos_demo",
                        "[",
                        "{a,b",
                        "a\\",
                        "**/x"
                    ][..]
                )
                .prop_map(String::from),
                value(),
            ],
            0..4,
        )
        .prop_map(|v| {
            format!(
                "[{}]",
                v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ")
            )
        })
        .boxed(),
        Kind::Proxies => prop::collection::vec(proxy_text(), 0..3)
            .prop_map(|v| {
                format!(
                    "[{}]",
                    v.iter().map(|s| toml_str(s)).collect::<Vec<_>>().join(", ")
                )
            })
            .boxed(),
        Kind::Cat => category_name().prop_map(|s| toml_str(&s)).boxed(),
        Kind::Profile => prop_oneof![
            select(&["demo", "aggressive", "", "Demo"][..]).prop_map(String::from),
            value()
        ]
        .prop_map(|s| toml_str(&s))
        .boxed(),
        Kind::Regex => regex_text().prop_map(|s| toml_str(&s)).boxed(),
        Kind::Addr => addr_text().prop_map(|s| toml_str(&s)).boxed(),
    };
    prop_oneof![30 => typed, 1 => toml_any()].boxed()
}

/// `(key, value)` pairs of a table, keys from `keys` and now and then unknown.
pub(super) fn toml_lines(
    keys: &'static [(&'static str, Kind)],
) -> BoxedStrategy<Vec<(String, String)>> {
    let line = prop_oneof![
        40 => select(keys).prop_flat_map(|(k, kind)| {
            toml_value(kind).prop_map(move |v| (k.to_string(), v))
        }),
        1 => ("[a-z_]{1,10}", toml_any()),
        1 => ("\\PC{1,6}", toml_any()).prop_map(|(k, v)| (toml_str(&k), v)),
    ];
    prop::collection::vec(line, 0..6).boxed()
}

/// `key = value` lines; a key given twice keeps its first value, unless
/// `dupes` (then TOML refuses the file).
pub(super) fn join_lines(lines: Vec<(String, String)>, dupes: bool) -> String {
    let mut seen = std::collections::BTreeSet::new();
    lines
        .into_iter()
        .filter(|(k, _)| dupes || seen.insert(k.clone()))
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect()
}

pub(super) const TOP: &[(&str, Kind)] = &[
    ("node", Kind::Node),
    ("cookie_file", Kind::Text),
    ("duration", Kind::Dur),
    ("rate", Kind::Float),
    ("rate", Kind::Int),
    ("seed", Kind::Int),
    ("profile", Kind::Profile),
    ("report", Kind::Text),
    ("events", Kind::Text),
    ("proxies", Kind::Proxies),
];
pub(super) const WEIGHTS: &[(&str, Kind)] = &[
    ("process", Kind::Int),
    ("memory", Kind::Int),
    ("network", Kind::Int),
    ("state", Kind::Int),
    ("timing", Kind::Int),
];
pub(super) const SAFETY: &[(&str, Kind)] = &[
    ("only_apps", Kind::Texts),
    ("protect_apps", Kind::Texts),
    ("protect_names", Kind::Texts),
    ("include_otp_apps", Kind::Bool),
    ("include_no_app", Kind::Bool),
    ("max_kills_per_sec", Kind::Int),
    ("max_app_share", Kind::Float),
    ("lease", Kind::Dur),
    ("edge", Kind::Bool),
    ("allow_collapse", Kind::Bool),
];
pub(super) const ALLOW: &[(&str, Kind)] = &[
    ("ops", Kind::Texts),
    ("supervisor_kill", Kind::Bool),
    ("atom_exhaustion", Kind::Bool),
    ("port_exhaustion", Kind::Bool),
];
pub(super) const OP: &[(&str, Kind)] = &[("enabled", Kind::Bool), ("weight", Kind::Int)];
pub(super) const CUSTOM: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("category", Kind::Cat),
    ("weight", Kind::Int),
    ("erlang", Kind::Text),
];
pub(super) const DETECT: &[(&str, Kind)] = &[
    ("recovery_window", Kind::Dur),
    ("mailbox_threshold", Kind::Int),
    ("memory_threshold", Kind::Float),
    ("limit_threshold", Kind::Float),
    ("leak_threshold", Kind::Int),
    ("breaker", Kind::Dur),
    ("keep_going", Kind::Bool),
];
pub(super) const PROBE_TCP: &[(&str, Kind)] = &[
    ("address", Kind::Addr),
    ("send", Kind::Text),
    ("expect", Kind::Regex),
    ("objective", Kind::Dur),
];
pub(super) const PROBE_TCP_REQUIRED: &[(&str, Kind)] = &[
    ("address", Kind::Addr),
    ("send", Kind::Text),
    ("expect", Kind::Regex),
];
pub(super) const PROBE_ERLANG: &[(&str, Kind)] = &[("expr", Kind::Text)];

pub(super) fn op_name() -> BoxedStrategy<String> {
    let names: Vec<String> = builtin().iter().map(|o| o.name().to_string()).collect();
    prop_oneof![
        6 => select(names),
        1 => "[a-z_]{1,12}",
        1 => "\\PC{1,6}".prop_map(|s| toml_str(&s)),
    ]
    .boxed()
}

/// Typed values for `keys` (the fields a table must have), nine times in ten.
pub(super) fn required(
    keys: &'static [(&'static str, Kind)],
) -> BoxedStrategy<Vec<(String, String)>> {
    let values: Vec<_> = keys
        .iter()
        .map(|(k, kind)| toml_value(*kind).prop_map(move |v| (k.to_string(), v)))
        .collect();
    prop::option::weighted(0.9, values)
        .prop_map(Option::unwrap_or_default)
        .boxed()
}

/// A table's header and lines: the random `lines` first (a key given twice
/// keeps its first value), then the `required` ones.
pub(super) fn table(
    header: impl Strategy<Value = String> + 'static,
    lines: &'static [(&'static str, Kind)],
    required_keys: &'static [(&'static str, Kind)],
) -> BoxedStrategy<(String, Vec<(String, String)>)> {
    (header, toml_lines(lines), required(required_keys))
        .prop_map(|(h, mut l, r)| {
            l.extend(r);
            (h, l)
        })
        .boxed()
}

/// One table (or array-of-tables entry) of the schema: header and lines.
pub(super) fn toml_section() -> BoxedStrategy<(String, Vec<(String, String)>)> {
    let h = |h: &str| Just(h.to_string());
    prop_oneof![
        2 => table(h("[weights]"), WEIGHTS, &[]),
        2 => table(h("[safety]"), SAFETY, &[]),
        1 => table(h("[allow]"), ALLOW, &[]),
        2 => table(op_name().prop_map(|n| format!("[ops.{n}]")), OP, &[]),
        2 => (
            prop_oneof![
                select(&["count_rows", "kill_worker", "", "a b", "é"][..]).prop_map(String::from),
                "[a-z_]{1,8}",
            ],
            table(h("[[ops.custom]]"), CUSTOM, &[("category", Kind::Cat), ("erlang", Kind::Text)]),
        )
            .prop_map(|(n, (h, mut l))| {
                l.insert(0, ("name".to_string(), toml_str(&n)));
                (h, l)
            }),
        2 => table(h("[detect]"), DETECT, &[]),
        2 => table(h("[[probes]]"), PROBE_TCP, PROBE_TCP_REQUIRED).prop_map(|(h, mut l)| {
            l.insert(0, ("type".to_string(), "\"tcp\"".to_string()));
            (h, l)
        }),
        1 => table(h("[[probes]]"), PROBE_ERLANG, PROBE_ERLANG).prop_map(|(h, mut l)| {
            l.insert(0, ("type".to_string(), "\"erlang\"".to_string()));
            (h, l)
        }),
        1 => ("\\PC{0,8}", table(h("[[probes]]"), PROBE_TCP, PROBE_TCP_REQUIRED)).prop_map(
            |(t, (h, mut l))| {
                l.insert(0, ("type".to_string(), toml_str(&t)));
                (h, l)
            }
        ),
        1 => table("[a-z_.]{1,10}".prop_map(|n| format!("[{n}]")), OP, &[]),
    ]
    .boxed()
}

/// A config file from the schema with random values and unknown keys,
/// sometimes with a key or table twice, or with one character inserted or
/// removed somewhere.
pub(super) fn toml_text() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.8),
        toml_lines(TOP),
        prop::collection::vec(toml_section(), 0..6),
        prop::option::weighted(0.05, Just(())),
        prop::option::weighted(0.15, (any::<Index>(), any::<bool>(), any::<char>())),
    )
        .prop_map(|(good_node, mut top, sections, dupes, mutation)| {
            let dupes = dupes.is_some();
            if good_node {
                top.insert(0, ("node".to_string(), "\"app@localhost\"".to_string()));
            }
            let mut text = join_lines(top, dupes);
            let mut tables = std::collections::BTreeSet::new();
            for (header, lines) in sections {
                if dupes || header.starts_with("[[") || tables.insert(header.clone()) {
                    text.push_str(&header);
                    text.push('\n');
                    text.push_str(&join_lines(lines, dupes));
                }
            }
            if let Some((at, insert, c)) = mutation {
                let bounds: Vec<usize> = text
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([text.len()])
                    .collect();
                let i = bounds[at.index(bounds.len())];
                if insert {
                    text.insert(i, c);
                } else if i < text.len() {
                    text.remove(i);
                }
            }
            text
        })
}

/// Flags for a run with a config file: mostly none, sometimes a few.
pub(super) fn run_flags() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        3 => Just(Vec::new()),
        1 => prop::collection::vec((any::<Index>(), value()), 0..3).prop_map(|f| {
            let longs = vocabulary()
                .iter()
                .find(|(p, _)| p == &["run"])
                .map(|(_, l)| l.as_slice())
                .unwrap_or_default();
            let mut args = Vec::new();
            for (i, v) in f {
                let (flag, takes) = &longs[i.index(longs.len())];
                args.push(flag.clone());
                if *takes {
                    args.push(v);
                }
            }
            args
        }),
    ]
}

/// Parse `text` as the config of `run` with `flags`, then merge. Never panics.
pub(super) fn config_and_settle(text: &str, flags: &[String]) {
    let path = Path::new("fuzz.toml");
    match config::load_str(text, path) {
        Ok((file, text)) => {
            let mut args = vec!["chaos-monkey".to_string(), "run".to_string()];
            args.extend(flags.iter().cloned());
            args.extend(["--config".to_string(), "fuzz.toml".to_string()]);
            if let Ok(cli) = Cli::try_parse_from(&args) {
                if let Command::Run(run) = cli.command {
                    if let Err(e) = settings_from(&run, false, file, &text, path) {
                        let _ = e.to_string();
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

// ------------------------------------------------------------ properties --
