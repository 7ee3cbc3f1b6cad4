//! `policy replay --live --report FILE.html`: one self-contained page (inline SVG, no script,
//! no network) with latency over time, a marker per reload, the four checks, and the offline
//! verdict diff of A vs B.
//!
//! Owns presentation only; every figure comes from `live::Report` and `offline::Report`.

use super::live::Report;
use super::offline;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const W: f64 = 960.0;
const H: f64 = 340.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;

/// The latency-over-time plot: p50 and p99 per 100 ms, max as a faint line, reloads as
/// vertical markers (green confirmed, red failed), drops as red ticks on the axis.
pub(crate) fn plot(r: &Report) -> String {
    let duration = r.duration_s.max(0.1);
    let ymax = r
        .timeline
        .iter()
        .map(|b| b.p99)
        .fold(0.0f64, f64::max)
        .max(r.latency_ms.p99)
        .max(0.1)
        * 1.15;
    let x = |t: f64| LEFT + (t / duration) * (W - LEFT - RIGHT);
    let y = |ms: f64| H - BOTTOM - (ms.min(ymax) / ymax) * (H - TOP - BOTTOM);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(svg, r##"<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>"##);
    for i in 0..=4 {
        let v = ymax / 1.15 * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y0:.1}" y2="{y0:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{v:.1} ms</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            y0 = y(v)
        );
    }
    let ticks = 10;
    for i in 0..=ticks {
        let t = duration * f64::from(i) / f64::from(ticks);
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{t:.1} s</text>"#,
            x(t),
            H - BOTTOM + 16.0
        );
    }
    let line = |f: &dyn Fn(&super::live::Bucket) -> f64| {
        r.timeline
            .iter()
            .filter(|b| b.requests > b.dropped)
            .map(|b| format!("{:.1},{:.1}", x(b.t + 0.05), y(f(b))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#bbb" stroke-width="1" points="{}"/>"##,
        line(&|b| b.max)
    );
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#d62" stroke-width="1.5" points="{}"/>"##,
        line(&|b| b.p99)
    );
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#26c" stroke-width="1.5" points="{}"/>"##,
        line(&|b| b.p50)
    );
    for e in &r.reload_events {
        // Restarts (a new process) are drawn apart from hot reloads: purple, long dashes.
        let restart = e.kind == super::live::Via::Restart;
        let colour = match (e.ok, restart) {
            (false, _) => "#c00",
            (true, true) => "#84c",
            (true, false) => "#2a2",
        };
        let (class, dash, what) = if restart {
            ("restart", "8,3", "restart")
        } else {
            ("reload", "3,2", "reload")
        };
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{x0:.1}" x2="{x0:.1}" y1="{TOP}" y2="{}" stroke="{colour}" stroke-dasharray="{dash}"><title>{what} {} to {} at {:.3} s{}</title></line>"#,
            H - BOTTOM,
            e.n,
            e.to,
            e.at_s,
            e.duration_ms.map(|d| format!(" ({d:.2} ms)")).unwrap_or_default(),
            x0 = x(e.at_s)
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{}" fill="{colour}" text-anchor="middle">{}</text>"#,
            x(e.at_s),
            TOP - 6.0,
            e.to
        );
    }
    for b in r.timeline.iter().filter(|b| b.dropped > 0) {
        let kinds: Vec<String> = b.dropped_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{}" width="3" height="8" fill="#c00"><title>{:.1} s: {} dropped ({})</title></rect>"##,
            x(b.t),
            H - BOTTOM - 8.0,
            b.t,
            b.dropped,
            esc(&kinds.join(", "))
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#333"/><line x1="{LEFT}" x2="{}" y1="{b}" y2="{b}" stroke="#333"/>"##,
        H - BOTTOM,
        W - RIGHT,
        b = H - BOTTOM
    );
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" fill="#26c">p50</text><text x="{}" y="{}" fill="#d62">p99</text><text x="{}" y="{}" fill="#999">max</text><text x="{}" y="{}" fill="#2a2">reload (A/B)</text>"##,
        LEFT + 10.0,
        H - 6.0,
        LEFT + 50.0,
        H - 6.0,
        LEFT + 90.0,
        H - 6.0,
        LEFT + 130.0,
        H - 6.0
    );
    svg.push_str("</svg>");
    svg
}

/// The whole page.
pub fn render(r: &Report, diff: Option<&offline::Report>) -> String {
    let verdict = if r.passed { "PASS" } else { "FAIL" };
    let colour = if r.passed { "#2a2" } else { "#c00" };
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>policy replay --live: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}td.n{{text-align:right}}code{{font-size:90%}}</style></head><body>
<h1>policy replay --live: <span style="color:{colour}">{verdict}</span></h1>
<p>{} requests over {:.1} s on {} connections ({:.0} req/s), {} reloads via {}.</p>"#,
        r.requests,
        r.duration_s,
        r.concurrency,
        r.throughput_rps,
        r.reloads,
        r.reload_via.as_str()
    );
    h.push_str("<h2>Latency over time</h2>");
    h.push_str(&plot(r));
    h.push_str("<h2>Checks</h2><table><tr><th>check</th><th>count</th></tr>");
    for (name, n) in [
        ("dropped", r.dropped),
        ("unattributed", r.unattributed),
        ("mismatched", r.mismatched),
        ("reload failures", r.reload_failures as u64),
    ] {
        let c = if n == 0 { "#2a2" } else { "#c00" };
        let _ = write!(h, r#"<tr><td>{name}</td><td class="n" style="color:{c}">{n}</td></tr>"#);
    }
    for (kind, n) in r.dropped_by_kind.iter().filter(|(_, n)| **n > 0) {
        let _ = write!(
            h,
            r#"<tr><td>&nbsp;&nbsp;dropped: {}</td><td class="n">{n}</td></tr>"#,
            esc(kind)
        );
    }
    let _ = write!(
        h,
        r#"<tr><td>status changed (against the recording)</td><td class="n">{}</td></tr>"#,
        r.status_changed
    );
    if !r.verdict_checks {
        h.push_str("<tr><td>verdict checks</td><td>skipped: not both policy configs</td></tr>");
    }
    let _ = write!(
        h,
        r#"<tr><td>rate limited (not checked)</td><td class="n">{}</td></tr></table>"#,
        r.rate_limited
    );
    for f in r.errors.iter().chain(&r.findings) {
        let _ = write!(
            h,
            "<p><b>{}</b> ×{}: <code>{}</code></p>",
            esc(&f.kind),
            f.count,
            esc(&f.example)
        );
    }
    h.push_str(
        "<h2>Latency (ms)</h2><table><tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>n</th></tr>",
    );
    for (name, l) in [
        ("all", &r.latency_ms),
        ("steady", &r.latency_steady_ms),
        ("near a reload", &r.latency_near_reload_ms),
        ("reload duration", &r.reload_duration_ms),
    ] {
        let _ = write!(
            h,
            r#"<tr><td>{name}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            l.p50, l.p90, l.p99, l.max, l.count
        );
    }
    h.push_str("</table><h2>Configs</h2><table><tr><th></th><th>source</th><th>version</th><th>hash</th><th>responses</th></tr>");
    for c in &r.configs {
        let label = c.label;
        let _ = write!(
            h,
            r#"<tr><td>{label}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td class="n">{}</td></tr>"#,
            esc(&c.source),
            esc(&c.version),
            esc(&c.hash),
            r.responses_by_config.get(label).copied().unwrap_or(0)
        );
    }
    h.push_str("</table>");
    if let Some(d) = diff {
        let _ = write!(
            h,
            "<h2>Offline verdict diff, A → B</h2><p>{} of {} recorded requests change verdict.</p>",
            d.changed, d.requests
        );
        if !d.transitions.is_empty() {
            h.push_str("<table><tr><th>transition</th><th>requests</th></tr>");
            for (t, n) in &d.transitions {
                let _ = write!(h, r#"<tr><td>{}</td><td class="n">{n}</td></tr>"#, esc(t));
            }
            h.push_str("</table><table><tr><th>id</th><th>A</th><th>B</th><th>excerpt</th></tr>");
            for c in d.changes.iter().take(50) {
                let side = |s: &offline::Side| {
                    let why = s.policy.map(|p| format!(" ({})", p.as_str())).unwrap_or_default();
                    format!("{}{why}", s.verdict.as_str())
                };
                let excerpt = c
                    .new
                    .excerpt
                    .as_deref()
                    .or(c.old.excerpt.as_deref())
                    .unwrap_or_default();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    esc(&c.id),
                    side(&c.old),
                    side(&c.new),
                    esc(excerpt)
                );
            }
            h.push_str("</table>");
        }
    }
    h.push_str("<h2>Processes</h2><table><tr><th>x-policy-instance</th><th>configs</th><th>responses</th><th>first (s)</th><th>last (s)</th></tr>");
    for p in &r.processes {
        let _ = write!(
            h,
            r#"<tr><td><code>{}</code></td><td>{}</td><td class="n">{}</td><td class="n">{:.3}</td><td class="n">{:.3}</td></tr>"#,
            esc(&p.instance),
            p.configs.join(", "),
            p.responses,
            p.first_s,
            p.last_s
        );
    }
    h.push_str("</table>");
    h.push_str("<h2>Reloads and restarts</h2><table><tr><th>#</th><th>kind</th><th>to</th><th>pid after</th><th>at (s)</th><th>confirmed (s)</th><th>gateway duration (ms)</th><th>result</th></tr>");
    for e in &r.reload_events {
        let _ = write!(
            h,
            r#"<tr><td class="n">{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{:.3}</td><td class="n">{:.3}</td><td class="n">{}</td><td>{}</td></tr>"#,
            e.n,
            if e.kind == super::live::Via::Restart {
                "restart"
            } else {
                "reload"
            },
            e.to,
            e.pid.map(|p| p.to_string()).unwrap_or_default(),
            e.at_s,
            e.done_s,
            e.duration_ms.map(|d| format!("{d:.2}")).unwrap_or_default(),
            if e.ok {
                "ok".to_string()
            } else {
                esc(e.error.as_deref().unwrap_or("failed"))
            }
        );
    }
    h.push_str("</table></body></html>\n");
    h
}
