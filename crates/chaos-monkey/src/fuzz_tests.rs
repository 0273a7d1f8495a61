//! Property tests that fuzz the configuration and command-line parsing: no
//! input may make them panic; each must answer `Ok` or `Err`.
//!
//! Every property runs proptest's default number of cases (256), which keeps
//! `cargo test` fast; raise it with the standard `PROPTEST_CASES` variable
//! for a campaign, in release mode:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release -p chaos-monkey --bin chaos-monkey fuzz_tests
//! ```
//!
//! Nothing here connects to anything: `commands::run::settings` only reads
//! its config file, and the properties hand it parsed config text instead.

use crate::cli::{self, Cli, Command};
use crate::commands::run::settings::{settings, settings_from};
use crate::config::{self, DEFAULT_WEIGHTS};
use chaos_beam::chaos::detect::Probe;
use chaos_beam::chaos::ops::{builtin, Allow};
use chaos_beam::dist::NodeName;
use chaos_engine::{Category, Weights};
use clap::{CommandFactory, Parser};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Proptest's default config (so `PROPTEST_CASES` applies), without
/// regression files written next to the sources.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------- values --

/// Texts that sit on the edges of what the parsers accept.
const EDGES: &[&str] = &[
    "",
    " ",
    "\t",
    "\n",
    "0",
    "-0",
    "1",
    "-1",
    "+1",
    "0.0",
    "0.25",
    "1.0",
    "1.5",
    "-0.5",
    "1e308",
    "1e309",
    "-1e309",
    "5e-324",
    "NaN",
    "nan",
    "-NaN",
    "inf",
    "-inf",
    "infinity",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "demo",
    "aggressive",
    "app@localhost",
    "app@127.0.0.1",
    "a@b",
    "@",
    "@@",
    "a@",
    "@b",
    "=",
    "==",
    "a=b=c",
    "127.0.0.1:1=127.0.0.1:2",
    "[::1]:1=[::1]:2",
    "process=30",
    DEFAULT_WEIGHTS,
    "1s",
    "0s",
    "-1s",
    "500ms",
    "1.5h",
    "18446744073709551615s",
    "18446744073709551615s 1000000000ns",
    "18446744073709551615s 999999999ns 1ns",
    "18446744073709551615s 500ms 500ms",
    "é",
    "日本",
    "🦀",
    "\u{0}",
    "\u{feff}",
    "\u{202e}",
    "--",
    "-",
    "-v",
    "--node",
    "*",
    "[",
    "{",
    "db_*",
    "a{1,2",
    "**/[!a-",
    "127.0.0.1:4000|PING|^PONG$|200ms",
    "||||",
    "help",
];

/// A flag value or argument: edge cases, numbers, durations, unicode, `=`.
fn value() -> BoxedStrategy<String> {
    let atom = prop_oneof![
        4 => select(EDGES).prop_map(String::from),
        2 => "\\PC{0,12}",
        1 => any::<String>(),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        2 => duration_text(),
        1 => weights_text(),
        1 => node_text(),
        1 => proxy_text(),
        1 => probe_text(),
    ]
    .boxed();
    prop_oneof![
        6 => atom.clone(),
        1 => (atom.clone(), atom).prop_map(|(a, b)| format!("{a}={b}")),
    ]
    .boxed()
}

/// Numbers humantime may read, with the largest ones likely.
fn number_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(&[
            "0",
            "1",
            "5",
            "999999999",
            "1000000000",
            "1000000001",
            "18446744073709551614",
            "18446744073709551615",
            "18446744073709551616",
            "584942417355",
            "307445734561825860",
        ][..])
        .prop_map(String::from),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        2 => (0u64..100_000).prop_map(|n| n.to_string()),
        1 => "[0-9]{1,25}",
        1 => "[0-9 ]{0,6}[.][0-9 ]{0,22}",
    ]
    .boxed()
}

/// Durations as humantime writes them, sometimes broken: `1h 30m`, `2.5s`,
/// `18446744073709551615s 1000000000ns`, unknown units, stray characters.
fn duration_text() -> BoxedStrategy<String> {
    let unit = select(
        &[
            "ns", "nsec", "nanos", "us", "usec", "µs", "ms", "msec", "millis", "s", "sec", "secs",
            "second", "seconds", "m", "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour",
            "hours", "d", "day", "days", "w", "wk", "wks", "week", "weeks", "M", "month", "months",
            "y", "yr", "yrs", "year", "years", "", "x", "S", "µ", "mss",
        ][..],
    );
    let sep = select(&["", " ", "  ", "\t", "-", ",", "."][..]);
    let term = (number_text(), select(&["", " "][..]), unit, sep)
        .prop_map(|(n, sp, u, sep)| format!("{n}{sp}{u}{sep}"));
    prop_oneof![
        8 => prop::collection::vec(term, 1..5).prop_map(|t| t.concat().trim_end().to_string()),
        1 => "[0-9a-zµ .]{0,16}",
    ]
    .boxed()
}

fn category_name() -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(Category::names()).prop_map(String::from),
        1 => select(&["", "Process", "proc", " process", "process ", "=", "é"][..])
            .prop_map(String::from),
        1 => "\\PC{0,8}",
    ]
    .boxed()
}

/// `name=weight,...`, mostly well-formed.
fn weights_text() -> BoxedStrategy<String> {
    let weight = prop_oneof![
        3 => (0u32..100).prop_map(|n| n.to_string()),
        1 => select(EDGES).prop_map(String::from),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ];
    let entry = prop_oneof![
        8 => (category_name(), select(&["=", " = ", "==", ""][..]), weight)
            .prop_map(|(n, eq, w)| format!("{n}{eq}{w}")),
        1 => "\\PC{0,8}",
    ];
    (
        prop::collection::vec(entry, 0..7),
        select(&[",", ", ", ",,", ";"][..]),
    )
        .prop_map(|(e, sep)| e.join(sep))
        .boxed()
}

fn node_text() -> BoxedStrategy<String> {
    let name = prop_oneof![
        4 => "[a-zA-Z0-9_-]{0,8}",
        1 => "\\PC{0,6}",
        1 => select(&["", "é", "🦀", "a b", "a.b", "a@b"][..]).prop_map(String::from),
    ];
    let host = prop_oneof![
        4 => select(&["localhost", "127.0.0.1", "::1", "db1.example.org", "", "@", "é"][..])
            .prop_map(String::from),
        1 => "\\PC{0,8}",
    ];
    prop_oneof![
        8 => (name, host).prop_map(|(n, h)| format!("{n}@{h}")),
        1 => "\\PC{0,10}",
    ]
    .boxed()
}

fn ip_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(&[
            "127.0.0.1", "127.1.2.3", "[::1]", "::1", "10.0.0.1", "0.0.0.0", "[::]",
            "localhost", "", "[::ffff:127.0.0.1]", "255.255.255.255", "[fe80::1%eth0]",
        ][..])
        .prop_map(String::from),
        1 => any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
        1 => any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
        1 => "\\PC{0,8}",
    ]
    .boxed()
}

fn addr_text() -> BoxedStrategy<String> {
    let port = prop_oneof![
        3 => any::<u16>().prop_map(|p| p.to_string()),
        1 => select(EDGES).prop_map(String::from),
        1 => any::<u32>().prop_map(|p| p.to_string()),
    ];
    (
        ip_text(),
        select(&[":", "", "::", " : "][..]),
        port,
        select(&["", " "][..]),
    )
        .prop_map(|(ip, colon, port, sp)| format!("{sp}{ip}{colon}{port}{sp}"))
        .boxed()
}

/// `LISTEN=UPSTREAM`.
fn proxy_text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (addr_text(), select(&["=", "==", " = ", ""][..]), addr_text())
            .prop_map(|(l, eq, u)| format!("{l}{eq}{u}")),
        1 => "\\PC{0,16}",
    ]
    .boxed()
}

fn regex_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(&[
            "^PONG$", "", ".*", "(", ")", "[", "[a-", "\\", "\\p{L}+", "\\pX", "a{1,2}",
            "a{2,1}", "a{99999999999}", "(?i)ok", "(?P<x>a)(?P<x>b)", "\\b", "[[:alpha:]]",
            "[^\\s\\S]", "(?-u:\\xFF)", "é+", "🦀", "*", "+?", "a**",
        ][..])
        .prop_map(String::from),
        2 => "\\PC{0,10}",
        1 => "[a-z()\\[\\]{}*+?|^$.\\\\0-9,]{0,12}",
    ]
    .boxed()
}

/// `ADDR|SEND|EXPECT_REGEX[|OBJECTIVE]`, with 1 to 6 parts.
fn probe_text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (
            addr_text(),
            prop_oneof![select(&["PING", "", "é", "a|b"][..]).prop_map(String::from), "\\PC{0,8}"],
            regex_text(),
            prop_oneof![duration_text(), select(EDGES).prop_map(String::from)],
            0usize..7,
        )
            .prop_map(|(a, s, r, o, n)| {
                let parts = [a, s, r, o, "x".into(), "".into()];
                parts[..n.min(parts.len())].join("|")
            }),
        1 => "\\PC{0,20}",
    ]
    .boxed()
}

// ------------------------------------------------------------------- cli --

/// A subcommand path (empty for the top level) and its flags, each with
/// whether it takes a value.
type Vocabulary = Vec<(Vec<String>, Vec<(String, bool)>)>;

/// Every subcommand with its flags, read from clap itself so that the
/// vocabulary follows the real CLI.
fn vocabulary() -> &'static Vocabulary {
    static VOCAB: OnceLock<Vocabulary> = OnceLock::new();
    VOCAB.get_or_init(|| {
        fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vocabulary) {
            let flags = cmd
                .get_arguments()
                .filter_map(|a| {
                    let takes = a.get_action().takes_values();
                    a.get_long().map(|l| (format!("--{l}"), takes))
                })
                .chain([("-v".to_string(), false), ("-q".to_string(), false)])
                .collect();
            out.push((path.clone(), flags));
            for sub in cmd.get_subcommands() {
                let mut p = path.clone();
                p.push(sub.get_name().to_string());
                walk(sub, p, out);
            }
        }
        let mut out = Vec::new();
        walk(&Cli::command(), Vec::new(), &mut out);
        out
    })
}

/// A command line: a subcommand path (`run` half of the time), then flags
/// of that subcommand in every form (`--f v`, `--f=v`, `--f`, stray values;
/// mostly the form the flag wants), sometimes globals, help, and a good
/// `--node` so that parsing gets as far as `settings`.
fn structured_args() -> impl Strategy<Value = Vec<String>> {
    let vocab = vocabulary();
    let run = vocab.iter().position(|(p, _)| p == &["run"]).unwrap_or(0);
    let flag = (any::<Index>(), 0u8..20, value());
    (
        prop_oneof![Just(run), 0..vocab.len()],
        prop::collection::vec(flag, 0..10),
        0u8..4,
        select(
            &[
                "",
                "",
                "",
                "-v",
                "-vvv",
                "-q",
                "-vq",
                "--verbose",
                "--quiet",
            ][..],
        ),
        prop::option::weighted(
            0.03,
            select(&["--help", "-h", "--version", "-V", "help"][..]),
        ),
        0usize..300,
    )
        .prop_map(move |(sub, flags, good_node, global, help, vs)| {
            let (path, longs) = &vocab[sub];
            let mut args = vec!["chaos-monkey".to_string()];
            if !global.is_empty() {
                args.push(global.to_string());
            }
            args.extend(path.iter().cloned());
            if good_node > 0 && longs.iter().any(|(f, _)| f == "--node") {
                args.extend(["--node".to_string(), "app@localhost".to_string()]);
            }
            for (i, form, v) in flags {
                let (f, takes) = &longs[i.index(longs.len())];
                match (form, takes) {
                    (0..=11, true) => args.extend([f.clone(), v]),
                    (12..=17, true) => args.push(format!("{f}={v}")),
                    (0..=17, false) => args.push(f.clone()),
                    (18, _) => args.extend([f.clone(), v]),
                    _ => args.push(v),
                }
            }
            if let Some(h) = help {
                args.push(h.to_string());
            }
            if vs == 299 {
                // Many `-v`: the count is a u8.
                args.push(format!("-{}", "v".repeat(vs)));
            }
            args
        })
}

/// Arbitrary words, some of them real subcommands and flags.
fn random_args() -> impl Strategy<Value = Vec<String>> {
    let vocab_word = any::<Index>().prop_map(|i| {
        let extra = ["--help", "-h", "--version", "-V", "help"].map(String::from);
        let words: Vec<&String> = vocabulary()
            .iter()
            .flat_map(|(p, l)| p.iter().chain(l.iter().map(|(f, _)| f)))
            .chain(&extra)
            .collect();
        words[i.index(words.len())].clone()
    });
    let word = prop_oneof![
        2 => any::<String>(),
        2 => "\\PC{0,10}",
        2 => vocab_word,
        2 => value(),
    ];
    prop::collection::vec(word, 0..10).prop_map(|w| {
        let mut args = vec!["chaos-monkey".to_string()];
        args.extend(w);
        args
    })
}

/// Parse a command line; a `run` goes on through `settings`. Never panics.
fn parse_and_settle(args: &[String]) {
    match Cli::try_parse_from(args) {
        Ok(cli) => {
            if let Command::Run(mut run) = cli.command {
                if run.config.is_some() {
                    // Never read whatever file a random path names.
                    run.config = Some(missing_config());
                }
                if let Err(e) = settings(&run, cli.global.verbose > 0) {
                    let _ = e.to_string();
                }
            }
        }
        Err(e) => {
            let _ = e.render().to_string();
        }
    }
}

fn missing_config() -> PathBuf {
    std::env::temp_dir().join("chaos-monkey-fuzz-no-such-dir/none.toml")
}

// ---------------------------------------------------------------- config --

/// A TOML basic string holding `s`.
fn toml_str(s: &str) -> String {
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
enum Kind {
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
fn toml_any() -> BoxedStrategy<String> {
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
fn toml_value(kind: Kind) -> BoxedStrategy<String> {
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
fn toml_lines(keys: &'static [(&'static str, Kind)]) -> BoxedStrategy<Vec<(String, String)>> {
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
fn join_lines(lines: Vec<(String, String)>, dupes: bool) -> String {
    let mut seen = std::collections::BTreeSet::new();
    lines
        .into_iter()
        .filter(|(k, _)| dupes || seen.insert(k.clone()))
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect()
}

const TOP: &[(&str, Kind)] = &[
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
const WEIGHTS: &[(&str, Kind)] = &[
    ("process", Kind::Int),
    ("memory", Kind::Int),
    ("network", Kind::Int),
    ("state", Kind::Int),
    ("timing", Kind::Int),
];
const SAFETY: &[(&str, Kind)] = &[
    ("only_apps", Kind::Texts),
    ("protect_apps", Kind::Texts),
    ("protect_names", Kind::Texts),
    ("include_otp_apps", Kind::Bool),
    ("include_no_app", Kind::Bool),
    ("max_kills_per_sec", Kind::Int),
    ("max_app_share", Kind::Float),
];
const ALLOW: &[(&str, Kind)] = &[
    ("supervisor_kill", Kind::Bool),
    ("atom_exhaustion", Kind::Bool),
    ("port_exhaustion", Kind::Bool),
];
const OP: &[(&str, Kind)] = &[("enabled", Kind::Bool), ("weight", Kind::Int)];
const CUSTOM: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("category", Kind::Cat),
    ("weight", Kind::Int),
    ("erlang", Kind::Text),
];
const DETECT: &[(&str, Kind)] = &[
    ("recovery_window", Kind::Dur),
    ("mailbox_threshold", Kind::Int),
    ("memory_threshold", Kind::Float),
    ("limit_threshold", Kind::Float),
    ("leak_threshold", Kind::Int),
    ("breaker", Kind::Dur),
    ("keep_going", Kind::Bool),
];
const PROBE_TCP: &[(&str, Kind)] = &[
    ("address", Kind::Addr),
    ("send", Kind::Text),
    ("expect", Kind::Regex),
    ("objective", Kind::Dur),
];
const PROBE_TCP_REQUIRED: &[(&str, Kind)] = &[
    ("address", Kind::Addr),
    ("send", Kind::Text),
    ("expect", Kind::Regex),
];
const PROBE_ERLANG: &[(&str, Kind)] = &[("expr", Kind::Text)];

fn op_name() -> BoxedStrategy<String> {
    let names: Vec<String> = builtin(Allow {
        supervisor_kill: true,
        atom_exhaustion: true,
        port_exhaustion: true,
    })
    .iter()
    .map(|o| o.name().to_string())
    .collect();
    prop_oneof![
        6 => select(names),
        1 => "[a-z_]{1,12}",
        1 => "\\PC{1,6}".prop_map(|s| toml_str(&s)),
    ]
    .boxed()
}

/// Typed values for `keys` (the fields a table must have), nine times in ten.
fn required(keys: &'static [(&'static str, Kind)]) -> BoxedStrategy<Vec<(String, String)>> {
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
fn table(
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
fn toml_section() -> BoxedStrategy<(String, Vec<(String, String)>)> {
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
fn toml_text() -> impl Strategy<Value = String> {
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
fn run_flags() -> impl Strategy<Value = Vec<String>> {
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
fn config_and_settle(text: &str, flags: &[String]) {
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

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cli_random_args_never_panic(args in random_args()) {
        parse_and_settle(&args);
    }

    #[test]
    fn cli_structured_args_never_panic(args in structured_args()) {
        parse_and_settle(&args);
    }

    #[test]
    fn config_random_text_never_panics(text in prop_oneof![any::<String>(), "[\\[\\]{}=\"'.,a-z0-9 \n#\\\\]{0,60}"]) {
        config_and_settle(&text, &[]);
    }

    #[test]
    fn config_structured_text_never_panics(text in toml_text(), flags in run_flags()) {
        config_and_settle(&text, &flags);
    }

    #[test]
    fn line_col_never_panics(text in any::<String>(), offset in prop_oneof![any::<usize>(), 0usize..64]) {
        let (line, col) = config::line_col(&text, offset);
        prop_assert!(line >= 1 && col >= 1);
        prop_assert!(line <= text.matches('\n').count() + 1);
        let _ = config::locate(Path::new("f.toml"), &text, "a");
    }

    #[test]
    fn durations_never_panic_and_match_humantime(s in prop_oneof![3 => duration_text(), 1 => value()]) {
        let ours = cli::parse_duration(&s);
        prop_assert_eq!(&ours, &config::parse_duration(&s));
        // humantime itself, where it does not panic, agrees on every value.
        match std::panic::catch_unwind(|| humantime::parse_duration(&s)) {
            Ok(Ok(d)) if !d.is_zero() => prop_assert_eq!(ours, Ok(d)),
            _ => prop_assert!(ours.is_err()),
        }
    }

    #[test]
    fn weights_never_panic(s in prop_oneof![3 => weights_text(), 1 => value()],
                           extra in prop::collection::vec("\\PC{0,6}", 0..3)) {
        if let Ok(w) = config::parse_weights(&s) {
            prop_assert!(w.values().any(|v| *v > 0));
        }
        let mut allowed: Vec<&str> = Category::names();
        allowed.extend(extra.iter().map(String::as_str));
        if let Ok(w) = Weights::parse(&s, &allowed) {
            prop_assert!(allowed.iter().any(|n| w.weight(n) > 0));
            let _ = w.to_string();
        }
    }

    #[test]
    fn table_weights_never_panic(t in prop::collection::btree_map(
        category_name(),
        prop_oneof![(0i64..100), any::<i64>()],
        0..7,
    )) {
        let t: BTreeMap<String, i64> = t;
        if let Ok(w) = config::table_weights(&t) {
            prop_assert!(w.values().any(|v| *v > 0));
        }
    }

    #[test]
    fn proxies_never_panic(s in prop_oneof![3 => proxy_text(), 1 => value()]) {
        if let Ok((l, u)) = config::parse_proxy(&s) {
            prop_assert!(l.ip().is_loopback() && u.ip().is_loopback());
        }
    }

    #[test]
    fn tcp_probes_never_panic(s in prop_oneof![3 => probe_text(), 1 => value()]) {
        let _ = Probe::parse_tcp(&s);
    }

    #[test]
    fn tcp_probe_objectives_match_humantime(o in prop_oneof![3 => duration_text(), 1 => value()]) {
        let o = o.replace('|', "/");
        let probe = Probe::parse_tcp(&format!("127.0.0.1:4000|PING|^PONG$|{o}"));
        match std::panic::catch_unwind(|| humantime::parse_duration(&o)) {
            Ok(Ok(d)) if !d.is_zero() => {
                let Ok(Probe::Tcp { objective, .. }) = probe else {
                    return Err(TestCaseError::fail(format!("{o:?} refused")));
                };
                prop_assert_eq!(objective, d);
            }
            _ => prop_assert!(probe.is_err()),
        }
    }

    #[test]
    fn node_names_never_panic(s in prop_oneof![3 => node_text(), 1 => value()]) {
        if let Ok(n) = s.parse::<NodeName>() {
            prop_assert_eq!(n.to_string(), s);
            let _ = n.is_long();
        }
    }

    #[test]
    fn small_parsers_never_panic(s in value(), r in any::<f64>()) {
        let _ = config::parse_profile(&s);
        if let Ok(v) = config::check_rate(r) {
            prop_assert!(v.is_finite() && v > 0.0);
        }
    }
}

/// The properties above can reach `Command::Run`: a sanity check of the harness.
#[test]
fn harness_reaches_run_settings() {
    let args: Vec<String> = [
        "chaos-monkey",
        "run",
        "--node",
        "app@localhost",
        "--seed",
        "1",
    ]
    .map(String::from)
    .to_vec();
    let cli = Cli::try_parse_from(&args).unwrap();
    let Command::Run(run) = cli.command else {
        panic!("not a run")
    };
    assert!(settings(&run, false).is_ok());
    let (file, text) = config::load_str("node = \"a@b\"\nrate = 2\n", Path::new("x.toml")).unwrap();
    let s = settings_from(&run, false, file, &text, Path::new("x.toml")).unwrap();
    assert_eq!(s.rate, 2.0);
}

/// Panics the fuzzing found, fixed; each with its input.
mod regressions {
    use super::*;

    #[test]
    fn line_col_at_an_offset_inside_a_character() {
        // `&text[..offset]` panicked: "byte index 9 is not a char boundary".
        let text = "Aᢀ0aa 𚿵0\u{1e000}aa ව0a🫎¡𑨀𝌀 aᏸ";
        assert_eq!(config::line_col(text, 9), (1, 7));
    }

    #[test]
    fn durations_that_overflow_humantime() {
        // humantime panicked: "overflow in Duration::new".
        for s in [
            "18446744073709551615s 1000000000ns",
            "18446744073709551615s 999999999ns 1ns",
            "18446744073709551615s 500ms 500ms",
        ] {
            assert!(cli::parse_duration(s).is_err(), "{s}");
            let args = ["chaos-monkey", "run", "--node", "a@b", "--duration", s];
            let Command::Run(run) = Cli::try_parse_from(args).unwrap().command else {
                panic!("not a run")
            };
            let e = settings(&run, false).unwrap_err().to_string();
            assert!(e.contains("--duration"), "{e}");
            let e = Cli::try_parse_from(["chaos-monkey", "run", "--tick", s]).unwrap_err();
            assert!(e.to_string().contains("not a duration"), "{e}");
            let p = Probe::parse_tcp(&format!("127.0.0.1:4000|PING|^PONG$|{s}"));
            assert!(p.unwrap_err().contains("bad objective"), "{s}");
            let path = Path::new("x.toml");
            let text = format!(
                "node = \"a@b\"\n[detect]\nbreaker = \"{s}\"\n\
                 [[probes]]\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n\
                 send = \"P\"\nexpect = \"x\"\nobjective = \"{s}\"\n"
            );
            let (file, text) = config::load_str(&text, path).unwrap();
            let Command::Run(run) = Cli::try_parse_from(["chaos-monkey", "run"])
                .unwrap()
                .command
            else {
                panic!("not a run")
            };
            let e = settings_from(&run, false, file, &text, path).unwrap_err();
            assert!(e.to_string().contains("x.toml:3: breaker"), "{e}");
        }
    }
}
