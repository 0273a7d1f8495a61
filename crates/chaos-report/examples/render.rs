//! Render a saved JSON report (`chaos-monkey run --report`) as HTML:
//! `cargo run -p chaos-report --example render -- report.json report.html`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: render REPORT.json OUT.html");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(input).unwrap_or_else(|e| {
        eprintln!("cannot read {input}: {e}");
        std::process::exit(1);
    });
    let report: chaos_engine::Report = serde_json::from_str(&text).unwrap_or_else(|e| {
        eprintln!("{input} is not a chaos-monkey report: {e}");
        std::process::exit(1);
    });
    if let Err(e) = std::fs::write(output, chaos_report::run_html(&report)) {
        eprintln!("cannot write {output}: {e}");
        std::process::exit(1);
    }
}
