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

mod args;
mod config_text;

use args::*;
use config_text::*;

use crate::cli::{self, Cli, Command};
use crate::commands::run::settings::{settings, settings_from};
use crate::config::{self, DEFAULT_WEIGHTS};
use chaos_beam::chaos::detect::Probe;
use chaos_beam::chaos::ops::builtin;
use chaos_beam::dist::NodeName;
use chaos_engine::{Category, Weights};
use clap::{CommandFactory, Parser};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Proptest's default config (so `PROPTEST_CASES` applies), without
/// regression files written next to the sources.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------- values --

/// Every unit humantime reads, with its length in nanoseconds written out
/// by hand (a month is 30.44 days, a year 365.25 days).
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("nsec", 1),
    ("nanos", 1),
    ("us", 1_000),
    ("usec", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("msec", 1_000_000),
    ("millis", 1_000_000),
    ("s", 1_000_000_000),
    ("sec", 1_000_000_000),
    ("secs", 1_000_000_000),
    ("second", 1_000_000_000),
    ("seconds", 1_000_000_000),
    ("m", 60_000_000_000),
    ("min", 60_000_000_000),
    ("mins", 60_000_000_000),
    ("minute", 60_000_000_000),
    ("minutes", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("hr", 3_600_000_000_000),
    ("hrs", 3_600_000_000_000),
    ("hour", 3_600_000_000_000),
    ("hours", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("day", 86_400_000_000_000),
    ("days", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
    ("wk", 604_800_000_000_000),
    ("wks", 604_800_000_000_000),
    ("week", 604_800_000_000_000),
    ("weeks", 604_800_000_000_000),
    ("M", 2_630_016_000_000_000),
    ("month", 2_630_016_000_000_000),
    ("months", 2_630_016_000_000_000),
    ("y", 31_557_600_000_000_000),
    ("yr", 31_557_600_000_000_000),
    ("yrs", 31_557_600_000_000_000),
    ("year", 31_557_600_000_000_000),
    ("years", 31_557_600_000_000_000),
];

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
        // humantime itself, where it does not panic, agrees on every value;
        // what it refuses (or panics on) is refused with the flag's message.
        match std::panic::catch_unwind(|| humantime::parse_duration(&s)) {
            Ok(Ok(d)) if !d.is_zero() => prop_assert_eq!(ours, Ok(d)),
            Ok(Ok(_)) => prop_assert!(ours.unwrap_err().contains("greater than zero")),
            _ => prop_assert!(ours.unwrap_err().contains("is not a duration")),
        }
    }

    /// Against values worked out by hand (not by humantime): a sum of
    /// terms `N UNIT` is the sum of N times the unit's length; zero is
    /// refused as zero; a sum past `Duration::MAX` is refused, not wrapped.
    #[test]
    fn durations_are_the_sum_of_their_terms(
        terms in prop::collection::vec((prop_oneof![0u64..2_000, any::<u64>()], select(UNITS)), 1..4),
        sep in select(&[" ", ""][..]),
    ) {
        let text = terms.iter().map(|(n, (u, _))| format!("{n}{u}")).collect::<Vec<_>>().join(sep);
        let ns: u128 = terms.iter().map(|(n, (_, k))| u128::from(*n) * k).sum();
        let got = cli::parse_duration(&text);
        // humantime refuses a single term past u64::MAX nanoseconds (584
        // years): either answer is fine there, but never a wrong value.
        let huge = terms.iter().any(|(n, (_, k))| u128::from(*n) * k > u128::from(u64::MAX));
        if ns == 0 {
            prop_assert!(got.unwrap_err().contains("greater than zero"), "{}", text);
        } else if huge && got.is_err() {
            prop_assert!(got.unwrap_err().contains("is not a duration"), "{}", text);
        } else if ns > Duration::MAX.as_nanos() {
            prop_assert!(got.unwrap_err().contains("is not a duration"), "{}", text);
        } else {
            prop_assert_eq!(got.map(|d| d.as_nanos()), Ok(ns), "{}", text);
        }
    }

    /// Round trip: whatever humantime writes, the parser reads back exactly.
    #[test]
    fn written_durations_read_back(secs in prop_oneof![0u64..1_000_000, any::<u64>()], nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        prop_assume!(!d.is_zero());
        let text = humantime::format_duration(d).to_string();
        prop_assert_eq!(cli::parse_duration(&text), Ok(d), "{}", text);
    }

    /// A number with a unit nobody knows, or no unit at all, is refused
    /// with the message that names the text and gives examples.
    #[test]
    fn durations_with_an_unknown_unit_are_refused(n in 1u64..1_000_000, unit in "[a-zA-Z]{1,6}") {
        prop_assume!(!UNITS.iter().any(|(u, _)| *u == unit));
        for text in [format!("{n}{unit}"), n.to_string()] {
            let e = cli::parse_duration(&text).unwrap_err();
            prop_assert!(e.contains(&format!("'{text}' is not a duration")), "{}", e);
            prop_assert!(e.contains("500ms"), "{}", e);
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
