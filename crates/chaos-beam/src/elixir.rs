//! Elixir as Elixir users read it: module atoms written the Elixir way
//! (`MyApp.Inventory`, not `Elixir.MyApp.Inventory` or
//! `'Elixir.MyApp.Inventory'`) in every text the BEAM target shows — victim
//! labels, details, failure modes, the supervision tree. The raw atoms stay
//! in the data the monkey uses to address processes.

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// `'Elixir.A.B'` or `Elixir.A.B`, as Erlang prints an Elixir module atom.
static ELIXIR_ATOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"'Elixir\.([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)'|\bElixir\.([A-Z][A-Za-z0-9_]*(?:\.[A-Z][A-Za-z0-9_]*)*)")
        .expect("a valid pattern")
});

/// `text` with every Elixir module atom written the Elixir way.
pub fn readable(text: &str) -> Cow<'_, str> {
    if !text.contains("Elixir.") {
        return Cow::Borrowed(text);
    }
    ELIXIR_ATOM.replace_all(text, |c: &regex::Captures<'_>| {
        c.get(1)
            .or_else(|| c.get(2))
            .map_or("", |m| m.as_str())
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn elixir_modules_read_the_elixir_way() {
        assert_eq!(readable("'Elixir.MyApp.CartSup'"), "MyApp.CartSup");
        assert_eq!(readable("Elixir.MyApp.CartSup"), "MyApp.CartSup");
        assert_eq!(
            readable("'Elixir.MyApp.Cart':init/1 (<0.120.0>)"),
            "MyApp.Cart:init/1 (<0.120.0>)"
        );
        assert_eq!(
            readable("50 × ['Elixir.MyApp.Cart'], 'Elixir.Logger.Watcher'"),
            "50 × [MyApp.Cart], Logger.Watcher"
        );
        assert_eq!(
            readable("{via,'Elixir.Registry',{'Elixir.MyApp.Reg',cart_1}}"),
            "{via,Registry,{MyApp.Reg,cart_1}}"
        );
        // Erlang names and look-alikes are left alone.
        assert_eq!(readable("chaos_demo_sup"), "chaos_demo_sup");
        assert_eq!(readable("'Elixir.'"), "'Elixir.'");
        assert_eq!(readable("NotElixir.Foo"), "NotElixir.Foo");
        assert_eq!(readable("elixir_code_server"), "elixir_code_server");
    }
}
