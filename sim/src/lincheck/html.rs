//! A self-contained HTML page showing why histories are not linearizable: each client's
//! operations as bars on a time axis, the longest partial linearization numbered and
//! highlighted, the operations that cannot come next in red. No script, no external file.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::explain::{Explanation, StuckReason};

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 90.0;
const ROW: f64 = 26.0;
const BAR: f64 = 18.0;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
    svg{border:1px solid #ccc;background:#fafafa}\
    .lin{fill:#9be29b;stroke:#2a7a2a}.stuck{fill:#f29b9b;stroke:#a02020}\
    .other{fill:#ddd;stroke:#888}.unknown{stroke-dasharray:4 3}\
    text{font-size:11px}ol,ul{font-family:monospace;font-size:12px}\
    .legend span{display:inline-block;padding:2px 8px;margin-right:8px;border:1px solid #888}";

/// The page for `failures`, each a (source name, explanation) pair.
pub fn page(failures: &[(&str, &Explanation)]) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">");
    let _ = write!(out, "<title>Linearizability failures</title><style>{STYLE}</style>");
    out.push_str("</head><body><h1>Linearizability failures</h1>\n");
    out.push_str(
        "<p class=\"legend\"><span class=\"lin\" style=\"background:#9be29b\">linearized \
         (numbered in order)</span><span style=\"background:#f29b9b\">cannot be placed \
         next</span><span style=\"background:#ddd\">other</span> dashed: unknown outcome \
         (drawn to the end)</p>\n",
    );
    for (name, explanation) in failures {
        section(&mut out, name, explanation);
    }
    out.push_str("</body></html>\n");
    out
}

fn section(out: &mut String, name: &str, e: &Explanation) {
    let _ = writeln!(
        out,
        "<h2>{}: {}</h2><p>Longest partial linearization: {} of {} operations, leaving {}.</p>",
        escape(name),
        escape(&e.partition),
        e.linearization.len(),
        e.ops.len(),
        escape(&e.state)
    );
    timeline(out, e);
    out.push_str("<h3>Cannot be placed next</h3><ul>");
    for s in &e.stuck {
        let why = match s.reason {
            StuckReason::Impossible => "impossible in this state",
            StuckReason::DeadEnd => "fits, but nothing can follow it",
        };
        let _ = write!(out, "<li>{}: {why}</li>", escape(&e.ops[s.op].description));
    }
    out.push_str("</ul><h3>Partial linearization</h3><ol>");
    for &i in &e.linearization {
        let op = &e.ops[i];
        let _ = write!(out, "<li>client {}: {}</li>", op.client, escape(&op.description));
    }
    out.push_str("</ol>\n");
}

/// The SVG timeline: one row per client.
fn timeline(out: &mut String, e: &Explanation) {
    let rows: BTreeMap<u64, usize> = {
        let mut clients: Vec<u64> = e.ops.iter().map(|op| op.client).collect();
        clients.sort_unstable();
        clients.dedup();
        clients.into_iter().enumerate().map(|(row, c)| (c, row)).collect()
    };
    let start = e.ops.iter().map(|op| op.call).min().unwrap_or(0);
    let last = e.ops.iter().map(|op| op.ret.unwrap_or(op.call)).max().unwrap_or(start);
    // Unknown outcomes run off to the right edge, a little past the last event.
    let end = last + (last - start) / 20 + 1;
    let x = |t: u64| LEFT + (t - start) as f64 / (end - start) as f64 * (WIDTH - LEFT - 10.0);
    let height = rows.len() as f64 * ROW + 30.0;
    let _ = writeln!(out, "<svg width=\"{WIDTH}\" height=\"{height}\">");
    axis(out, start, end, height, &x);
    let order: BTreeMap<usize, usize> =
        e.linearization.iter().enumerate().map(|(k, &i)| (i, k + 1)).collect();
    for (i, op) in e.ops.iter().enumerate() {
        let y = rows[&op.client] as f64 * ROW + 6.0;
        let (x0, x1) = (x(op.call), x(op.ret.unwrap_or(end)));
        let class = if order.contains_key(&i) {
            "lin"
        } else if e.stuck.iter().any(|s| s.op == i) {
            "stuck"
        } else {
            "other"
        };
        let dash = if op.ret.is_none() { " unknown" } else { "" };
        let label = order.get(&i).map_or(String::new(), |k| format!("#{k} "));
        let _ = writeln!(
            out,
            "<g><title>{label}{} (client {}, {}..{})</title>\
             <rect class=\"{class}{dash}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" \
             height=\"{BAR}\" rx=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{label}</text></g>",
            escape(&op.description),
            op.client,
            op.call,
            op.ret.map_or("?".to_string(), |r| r.to_string()),
            (x1 - x0).max(2.0),
            x0 + 2.0,
            y + 13.0
        );
    }
    for (client, row) in &rows {
        let _ = writeln!(out, "<text x=\"4\" y=\"{:.1}\">client {client}</text>", *row as f64 * ROW + 19.0);
    }
    out.push_str("</svg>\n");
}

fn axis(out: &mut String, start: u64, end: u64, height: f64, x: &dyn Fn(u64) -> f64) {
    let step = ((end - start) / 10).max(1);
    let mut t = start;
    while t <= end {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{1:.1}\" stroke=\"#eee\"/>\
             <text x=\"{0:.1}\" y=\"{2:.1}\">{t}</text>",
            x(t),
            height - 14.0,
            height - 3.0
        );
        t += step;
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
