//! What a snippet's compiled function is called, and the source form the
//! compiler is given.

/// The source as `erl_parse:parse_exprs/1` wants it: ending with a dot.
pub(super) fn with_final_dot(source: &str) -> String {
    let body = source.trim_end();
    if body.ends_with('.') {
        body.to_string()
    } else {
        format!("{body}.")
    }
}

/// The function a snippet compiles into: named after its text (FNV-1a, 64
/// bits), so the same snippet gets the same name — and the compiler the same
/// names for its funs — in every run and every module: atoms are never
/// freed, and these are made once per snippet per node, not once per run.
pub(super) fn function_name(key: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("s_{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_is_named_after_its_text() {
        let (a, b) = ("erlang:exit(Victim, kill).", "ok.");
        let (fa, fb) = (function_name(a), function_name(b));
        // The same in every run, different per snippet.
        assert_eq!(fa, function_name(&String::from(a)));
        assert_ne!(fa, fb);
        assert!(fa.starts_with("s_") && fa.len() == 18, "{fa}");
        assert_eq!(with_final_dot(" ok \n"), " ok.");
        assert_eq!(with_final_dot("ok.\n"), "ok.");
    }
}
