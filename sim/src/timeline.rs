//! A self-contained HTML timeline of one run: a lane per node (follower, candidate, leader,
//! paused, down), a lane per client with its operations, and the readable trace.

use crate::world::RunReport;
use quorate::types::{NodeId, NodeState};
use std::fmt::Write as _;

/// What a node's lane shows from a point in time on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Following.
    Follower,
    /// Campaigning.
    Candidate,
    /// Leading.
    Leader,
    /// Paused.
    Paused,
    /// Crashed.
    Down,
}

impl From<NodeState> for Lane {
    fn from(state: NodeState) -> Lane {
        match state {
            NodeState::Follower => Lane::Follower,
            NodeState::Candidate => Lane::Candidate,
            NodeState::Leader => Lane::Leader,
        }
    }
}

impl Lane {
    fn color(self) -> &'static str {
        match self {
            Lane::Follower => "#cfd8dc",
            Lane::Candidate => "#ffca28",
            Lane::Leader => "#43a047",
            Lane::Paused => "#64b5f6",
            Lane::Down => "#e53935",
        }
    }
}

/// A lane change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Virtual time.
    pub at: u64,
    /// The node.
    pub node: NodeId,
    /// Its lane from then on.
    pub lane: Lane,
}

const WIDTH: f64 = 1400.0;
const ROW: f64 = 22.0;
const LEFT: f64 = 70.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Maps virtual time to the page's x axis.
struct Axis {
    end: f64,
}

impl Axis {
    fn x(&self, t: u64) -> f64 {
        LEFT + (t as f64 / self.end) * (WIDTH - LEFT - 10.0)
    }
}

/// Renders the page for a verbose run's report.
pub fn page(report: &RunReport) -> String {
    let axis = Axis { end: report.stats.virtual_ms.max(1) as f64 };
    let clients = report.history.ops().iter().map(|o| o.client).max().map_or(0, |c| c + 1);
    let rows = report.nodes.len() + clients as usize + 2;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg width="{WIDTH}" height="{}" font-family="monospace" font-size="11">"#,
        rows as f64 * ROW + 20.0
    );
    node_lanes(&mut svg, report, &axis);
    client_lanes(&mut svg, report, &axis, clients);
    svg.push_str("</svg>");
    let verdict = report.failure.as_ref().map_or("ok".to_string(), |f| f.to_string());
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>quorate-sim seed {seed}</title>\
         <style>body{{font-family:sans-serif;margin:16px}}pre{{font-size:11px;max-height:600px;overflow:auto;background:#fafafa}}</style>\
         </head><body><h1>seed {seed} ({scenario})</h1><p>{params}</p><p><b>result:</b> {verdict}</p>\
         <p>nodes: <span style=\"background:#43a047\">leader</span> <span style=\"background:#ffca28\">candidate</span> \
         <span style=\"background:#cfd8dc\">follower</span> <span style=\"background:#64b5f6\">paused</span> \
         <span style=\"background:#e53935\">down</span>; clients: operations from call to return (grey: unknown outcome). \
         Hover for details.</p>{svg}<h2>trace</h2><pre>{trace}</pre></body></html>",
        seed = report.seed,
        scenario = report.scenario,
        params = escape(&report.params.to_string()),
        verdict = escape(&verdict),
        trace = escape(&report.trace.join("\n")),
    )
}

/// One row per node, coloured by what it was doing.
fn node_lanes(svg: &mut String, report: &RunReport, axis: &Axis) {
    for (row, &node) in report.nodes.iter().enumerate() {
        let y = row as f64 * ROW + 10.0;
        let _ = write!(svg, r#"<text x="4" y="{}">{node}</text>"#, y + 14.0);
        let end = Mark { at: report.stats.virtual_ms, node, lane: Lane::Follower };
        let (mut from, mut lane) = (0, Lane::Follower);
        for mark in report.timeline.iter().filter(|m| m.node == node).chain(std::iter::once(&end)) {
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y}" width="{:.1}" height="{}" fill="{}"><title>{node} {:?} from {from} ms</title></rect>"#,
                axis.x(from),
                (axis.x(mark.at) - axis.x(from)).max(0.5),
                ROW - 4.0,
                lane.color(),
                lane
            );
            (from, lane) = (mark.at, mark.lane);
        }
    }
}

/// One row per client, a bar per operation from its call to its return.
fn client_lanes(svg: &mut String, report: &RunReport, axis: &Axis, clients: u64) {
    let row_of = |client: u64| (report.nodes.len() + 1 + client as usize) as f64 * ROW + 10.0;
    for op in report.history.ops() {
        let y = row_of(op.client);
        let (end_at, color, result) = match &op.ret {
            Some((at, result)) => (*at, "#5c6bc0", format!("{result:?}")),
            None => {
                (op.fenced_by.unwrap_or(report.stats.virtual_ms), "#bdbdbd", "unknown outcome".to_string())
            }
        };
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{y}" width="{:.1}" height="{}" fill="{color}" stroke="white"><title>client {} {:?} [{}..{}] {}</title></rect>"#,
            axis.x(op.call),
            (axis.x(end_at) - axis.x(op.call)).max(1.0),
            ROW - 6.0,
            op.client,
            escape(&format!("{:?}", op.op)),
            op.call,
            end_at,
            escape(&result)
        );
    }
    for client in 0..clients {
        let _ = write!(svg, r#"<text x="4" y="{}">c{client}</text>"#, row_of(client) + 14.0);
    }
}
