//! Strategies for command lines: flag values, durations, weights, node
//! names, addresses, probes, and whole argument lists shaped by clap's own
//! vocabulary.

use super::*;

/// A flag value or argument: edge cases, numbers, durations, unicode, `=`.
pub(super) fn value() -> BoxedStrategy<String> {
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
pub(super) fn number_text() -> BoxedStrategy<String> {
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
pub(super) fn duration_text() -> BoxedStrategy<String> {
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

pub(super) fn category_name() -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(Category::names()).prop_map(String::from),
        1 => select(&["", "Process", "proc", " process", "process ", "=", "é"][..])
            .prop_map(String::from),
        1 => "\\PC{0,8}",
    ]
    .boxed()
}

/// `name=weight,...`, mostly well-formed.
pub(super) fn weights_text() -> BoxedStrategy<String> {
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

pub(super) fn node_text() -> BoxedStrategy<String> {
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

pub(super) fn ip_text() -> BoxedStrategy<String> {
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

pub(super) fn addr_text() -> BoxedStrategy<String> {
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
pub(super) fn proxy_text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (addr_text(), select(&["=", "==", " = ", ""][..]), addr_text())
            .prop_map(|(l, eq, u)| format!("{l}{eq}{u}")),
        1 => "\\PC{0,16}",
    ]
    .boxed()
}

pub(super) fn regex_text() -> BoxedStrategy<String> {
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
pub(super) fn probe_text() -> BoxedStrategy<String> {
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
pub(super) type Vocabulary = Vec<(Vec<String>, Vec<(String, bool)>)>;

/// Every subcommand with its flags, read from clap itself so that the
/// vocabulary follows the real CLI.
pub(super) fn vocabulary() -> &'static Vocabulary {
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
pub(super) fn structured_args() -> impl Strategy<Value = Vec<String>> {
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
pub(super) fn random_args() -> impl Strategy<Value = Vec<String>> {
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
pub(super) fn parse_and_settle(args: &[String]) {
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
