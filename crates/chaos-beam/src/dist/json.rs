//! Terms to JSON, for snippets that return maps of plain data.
//!
//! Conventions the snippets follow: strings are binaries, `null` is the atom
//! `null`, booleans are `true`/`false`. Other atoms become strings; tuples
//! become arrays; pids, ports and references become their Erlang text.

use super::term::{show, Term};
use serde_json::{Map, Number, Value};

/// Convert a term to a JSON value.
pub fn to_json(term: &Term) -> Value {
    match term {
        Term::Atom(a) => match a.name.as_str() {
            "null" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            name => Value::String(name.to_string()),
        },
        Term::FixInteger(i) => Value::Number(i.value.into()),
        Term::BigInteger(b) => {
            let text = b.value.to_string();
            match text.parse::<i64>() {
                Ok(v) => Value::Number(v.into()),
                Err(_) => match text.parse::<u64>() {
                    Ok(v) => Value::Number(v.into()),
                    Err(_) => Value::String(text),
                },
            }
        }
        Term::Float(f) => Number::from_f64(f.value)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Term::Binary(b) => Value::String(String::from_utf8_lossy(&b.bytes).into_owned()),
        Term::ByteList(b) => {
            Value::Array(b.bytes.iter().map(|&c| Value::Number(c.into())).collect())
        }
        Term::List(l) => Value::Array(l.elements.iter().map(to_json).collect()),
        Term::Tuple(t) => Value::Array(t.elements.iter().map(to_json).collect()),
        Term::Map(m) => {
            let mut obj = Map::new();
            for (k, v) in &m.map {
                let key = match k {
                    Term::Atom(a) => a.name.clone(),
                    Term::Binary(b) => String::from_utf8_lossy(&b.bytes).into_owned(),
                    other => show(other),
                };
                obj.insert(key, to_json(v));
            }
            Value::Object(obj)
        }
        other => Value::String(show(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::term::{atom, binary, int, list, tuple};

    #[test]
    fn converts_plain_data() {
        let t = list(vec![
            atom("null"),
            atom("true"),
            atom("x"),
            int(-3),
            binary(b"s"),
            tuple(vec![int(1)]),
        ]);
        assert_eq!(
            to_json(&t),
            serde_json::json!([null, true, "x", -3, "s", [1]])
        );
    }
}
