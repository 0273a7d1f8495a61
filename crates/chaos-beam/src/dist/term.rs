//! Small helpers to build and read Erlang terms ([`eetf::Term`]).

pub use eetf::{Atom, Binary, List, Map, Pid, Reference, Term, Tuple};
use std::borrow::Cow;

/// An atom term.
pub fn atom(name: &str) -> Term {
    Term::Atom(Atom::from(name))
}

/// A tuple term.
pub fn tuple(elements: Vec<Term>) -> Term {
    Term::Tuple(Tuple { elements })
}

/// A proper list term.
pub fn list(elements: Vec<Term>) -> Term {
    Term::List(List { elements })
}

/// A binary term.
pub fn binary(bytes: &[u8]) -> Term {
    Term::Binary(Binary {
        bytes: bytes.to_vec(),
    })
}

/// An integer term of any size.
///
/// Negative values are built as big integers: `eetf` 0.11 encodes a list whose
/// elements are all integers below 256 as a string and wraps negative ones
/// (`[-1]` arrives as `[255]`); a big integer keeps such a list a real list,
/// and the target normalises it back to a small integer.
pub fn int(value: i64) -> Term {
    match i32::try_from(value) {
        Ok(v) if v >= 0 => Term::FixInteger(v.into()),
        _ => Term::BigInteger(value.into()),
    }
}

/// Rewrite negative small integers so [`eetf`] encodes every list correctly
/// (see [`int`]). Applied to everything we send in calls.
pub fn wire_safe(term: Term) -> Term {
    match term {
        Term::FixInteger(i) if i.value < 0 => Term::BigInteger(i64::from(i.value).into()),
        Term::List(l) => Term::List(List {
            elements: l.elements.into_iter().map(wire_safe).collect(),
        }),
        Term::Tuple(t) => Term::Tuple(Tuple {
            elements: t.elements.into_iter().map(wire_safe).collect(),
        }),
        Term::Map(m) => Term::Map(Map {
            map: m
                .map
                .into_iter()
                .map(|(k, v)| (wire_safe(k), wire_safe(v)))
                .collect(),
        }),
        Term::ImproperList(l) => Term::ImproperList(eetf::ImproperList {
            elements: l.elements.into_iter().map(wire_safe).collect(),
            last: Box::new(wire_safe(*l.last)),
        }),
        other => other,
    }
}

/// An atom as Erlang prints it: quoted unless it is a plain lowercase word.
pub fn show_atom(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
    if plain {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Typed views of a [`Term`].
pub trait TermExt {
    /// The atom's name.
    fn as_atom(&self) -> Option<&str>;
    /// An integer that fits in `i64`.
    fn as_i64(&self) -> Option<i64>;
    /// A tuple's elements.
    fn as_tuple(&self) -> Option<&[Term]>;
    /// A proper list's elements, borrowed (a list reply can be thousands of
    /// terms: reading it must not copy it); a string (`STRING_EXT`) becomes
    /// small integers.
    fn as_list(&self) -> Option<Cow<'_, [Term]>>;
    /// Text from a binary, a charlist or an atom.
    fn as_text(&self) -> Option<String>;
    /// A map or proplist value by atom key.
    fn get(&self, key: &str) -> Option<&Term>;
    /// A pid.
    fn as_pid(&self) -> Option<&Pid>;
    /// `true` / `false` atoms.
    fn as_bool(&self) -> Option<bool> {
        match self.as_atom()? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

impl TermExt for Term {
    fn as_atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(&a.name),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Term::FixInteger(i) => Some(i64::from(i.value)),
            Term::BigInteger(b) => b.value.to_string().parse().ok(),
            _ => None,
        }
    }

    fn as_tuple(&self) -> Option<&[Term]> {
        match self {
            Term::Tuple(t) => Some(&t.elements),
            _ => None,
        }
    }

    fn as_list(&self) -> Option<Cow<'_, [Term]>> {
        match self {
            Term::List(l) => Some(Cow::Borrowed(&l.elements)),
            Term::ByteList(b) => Some(Cow::Owned(
                b.bytes.iter().map(|&c| int(i64::from(c))).collect(),
            )),
            _ => None,
        }
    }

    fn as_text(&self) -> Option<String> {
        match self {
            Term::Binary(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
            Term::ByteList(b) => Some(String::from_utf8_lossy(&b.bytes).into_owned()),
            Term::Atom(a) => Some(a.name.clone()),
            Term::List(l) if l.elements.is_empty() => Some(String::new()),
            Term::List(l) => l
                .elements
                .iter()
                .map(|e| {
                    e.as_i64()
                        .and_then(|c| char::from_u32(u32::try_from(c).ok()?))
                })
                .collect(),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Term> {
        match self {
            Term::Map(m) => m.map.get(&atom(key)),
            Term::List(l) => l.elements.iter().find_map(|e| match e.as_tuple() {
                Some([k, v]) if k.as_atom() == Some(key) => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    fn as_pid(&self) -> Option<&Pid> {
        match self {
            Term::Pid(p) => Some(p),
            _ => None,
        }
    }
}

/// Erlang-like text of a term for messages and logs (strings shown as text).
pub fn show(term: &Term) -> String {
    match term {
        Term::Atom(a) => show_atom(&a.name),
        Term::ByteList(b) => format!("{:?}", String::from_utf8_lossy(&b.bytes)),
        Term::Binary(b) if b.bytes.len() <= 256 && std::str::from_utf8(&b.bytes).is_ok() => {
            format!("<<{:?}>>", String::from_utf8_lossy(&b.bytes))
        }
        Term::List(l) => format!(
            "[{}]",
            l.elements.iter().map(show).collect::<Vec<_>>().join(",")
        ),
        Term::Tuple(t) => format!(
            "{{{}}}",
            t.elements.iter().map(show).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_terms() {
        assert_eq!(int(5).as_i64(), Some(5));
        assert_eq!(int(1 << 40).as_i64(), Some(1 << 40));
        let pl = list(vec![tuple(vec![atom("a"), int(1)])]);
        assert_eq!(pl.get("a").and_then(TermExt::as_i64), Some(1));
        assert_eq!(
            Term::from("hi".to_string()).as_text().as_deref(),
            Some("hi")
        );
        assert_eq!(
            show(&tuple(vec![atom("ok"), binary(b"x")])),
            "{ok,<<\"x\">>}"
        );
        assert_eq!(show(&atom("EXIT")), "'EXIT'");
        assert!(
            matches!(wire_safe(list(vec![Term::FixInteger((-1).into())])), Term::List(l) if matches!(l.elements[0], Term::BigInteger(_)))
        );
    }
}
