//! The `--report` page: one self-contained HTML file (inline CSS and SVG,
//! no script, nothing fetched) with the goals, and per job a latency
//! distribution chart, a ratio chart and the numbers.

use std::fmt::Write as _;

use super::mode::Mode;
use super::report::{JobResult, Report, fmt_ms, fmt_ratio};

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#1d2430;padding:0 1em}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d5dae3}\
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.25em .6em;border-bottom:1px solid #e4e7ee;text-align:right}\
th{background:#f3f5f9}td:first-child,th:first-child{text-align:left}.met{color:#146c2e}.miss{color:#b3261e;font-weight:600}\
.muted{color:#5b6576}svg{display:block;margin:.5em 0}code{background:#f3f5f9;padding:0 .25em}";

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The colour of a mode's family: wasm, native sandbox, plain.
fn colour(m: Mode) -> &'static str {
    if m.is_wasm() {
        "#2563eb"
    } else if m.is_plain() {
        "#6b7280"
    } else {
        "#d97706"
    }
}

/// A log10 axis from `lo` to `hi` (whole decades) onto `x0..x1` pixels.
struct LogAxis {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl LogAxis {
    fn new(min: f64, max: f64, x0: f64, x1: f64) -> LogAxis {
        let lo = min.max(1e-3).log10().floor();
        let hi = max.max(min * 1.0001).max(1e-3).log10().ceil().max(lo + 1.0);
        LogAxis { lo, hi, x0, x1 }
    }

    fn x(&self, v: f64) -> f64 {
        let t = (v.max(1e-9).log10() - self.lo) / (self.hi - self.lo);
        self.x0 + t.clamp(0.0, 1.0) * (self.x1 - self.x0)
    }

    /// Grid lines at 1, 2 and 5 of every decade, and labels at decades.
    fn grid(&self, out: &mut String, top: f64, bottom: f64, unit: &str) {
        let mut d = self.lo;
        while d <= self.hi {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powf(d);
                if v.log10() > self.hi + 1e-9 {
                    break;
                }
                let x = self.x(v);
                let stroke = if m == 1.0 { "#c5ccd8" } else { "#eceff4" };
                let _ = write!(
                    out,
                    r#"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="{stroke}"/>"#
                );
                if m == 1.0 || self.hi - self.lo <= 2.0 {
                    let _ = write!(
                        out,
                        r##"<text x="{x:.1}" y="{:.0}" font-size="11" text-anchor="middle" fill="#5b6576">{}{unit}</text>"##,
                        bottom + 14.0,
                        label(v)
                    );
                }
            }
            d += 1.0;
        }
    }
}

fn label(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Every exit (filled) and first-output (hollow) sample per mode on a log
/// axis, with a bar from min to p90 and a tick at the median.
fn latency_chart(job: &JobResult) -> String {
    let rows: Vec<_> = job.results.iter().filter(|r| r.exit_ms.is_some()).collect();
    let values = rows.iter().flat_map(|r| {
        r.samples.iter().flat_map(|s| {
            std::iter::once(s.exit_ms.as_secs_f64() * 1e3)
                .chain(s.first_output_ms.map(|f| f.as_secs_f64() * 1e3))
        })
    });
    let (min, max) = values.fold((f64::MAX, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    if rows.is_empty() {
        return String::new();
    }
    let (w, row_h, top) = (900.0, 28.0, 10.0);
    let h = top + row_h * rows.len() as f64 + 30.0;
    let axis = LogAxis::new(min, max, 170.0, w - 40.0);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="latency of {} per mode">"#,
        esc(&job.name)
    );
    let bottom = top + row_h * rows.len() as f64;
    axis.grid(&mut out, top, bottom, " ms");
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64 + row_h / 2.0;
        let c = colour(r.mode);
        let _ = write!(
            out,
            r##"<text x="160" y="{:.1}" font-size="12" text-anchor="end" fill="#1d2430">{}</text>"##,
            y + 4.0,
            r.mode.id()
        );
        if let Some(s) = r.exit_ms {
            let _ = write!(
                out,
                r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="6" stroke-opacity=".25"/>"#,
                axis.x(s.min),
                axis.x(s.p90)
            );
            let xm = axis.x(s.median);
            let _ = write!(
                out,
                r#"<line x1="{xm:.1}" y1="{:.1}" x2="{xm:.1}" y2="{:.1}" stroke="{c}" stroke-width="2"/>"#,
                y - 9.0,
                y + 9.0
            );
        }
        for s in &r.samples {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{y:.1}" r="3" fill="{c}" fill-opacity=".6"/>"#,
                axis.x(s.exit_ms.as_secs_f64() * 1e3)
            );
            if let Some(f) = s.first_output_ms {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{y:.1}" r="3" fill="none" stroke="{c}"/>"#,
                    axis.x(f.as_secs_f64() * 1e3)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// A bar per mode from 1× to its median start-to-exit ÷ plain, on a log axis.
fn ratio_chart(job: &JobResult) -> String {
    let rows: Vec<_> = job
        .results
        .iter()
        .filter_map(|r| Some((r.mode, r.ratio_to_plain?.exit)))
        .filter(|(_, x)| x.is_finite() && *x > 0.0)
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let (min, max) = rows
        .iter()
        .fold((1f64, 1f64), |(a, b), (_, x)| (a.min(*x), b.max(*x)));
    let (w, row_h, top) = (900.0, 24.0, 10.0);
    let h = top + row_h * rows.len() as f64 + 30.0;
    let axis = LogAxis::new(min, max, 170.0, w - 80.0);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="ratios of {} to the plain process">"#,
        esc(&job.name)
    );
    let bottom = top + row_h * rows.len() as f64;
    axis.grid(&mut out, top, bottom, "×");
    let one = axis.x(1.0);
    for (i, (mode, x)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64 + 4.0;
        let (a, b) = (one.min(axis.x(*x)), one.max(axis.x(*x)));
        let _ = write!(
            out,
            r##"<text x="160" y="{:.1}" font-size="12" text-anchor="end" fill="#1d2430">{}</text><rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="{:.0}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#1d2430">{}</text>"##,
            y + 12.0,
            mode.id(),
            (b - a).max(1.0),
            row_h - 8.0,
            colour(*mode),
            b + 4.0,
            y + 12.0,
            fmt_ratio(*x)
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{one:.1}" y1="{top}" x2="{one:.1}" y2="{bottom}" stroke="#1d2430"/></svg>"##
    );
    out
}

fn numbers(job: &JobResult) -> String {
    let mut t = String::from(
        "<table><tr><th>mode</th><th>first output ms<br>min / median / p90</th><th>exit ms<br>min / median / p90</th><th>CPU ms<br>median</th><th>peak MiB<br>median</th><th>host overhead ms<br>median</th><th>÷ plain<br>exit / CPU</th></tr>",
    );
    for r in &job.results {
        if let Some(e) = &r.error {
            let _ = write!(
                t,
                r#"<tr><td>{}</td><td colspan="6" class="miss">failed: {}</td></tr>"#,
                r.mode.id(),
                esc(e)
            );
            continue;
        }
        let [mode, first, exit, cpu, mem] = r.cells(" / ");
        let _ = write!(
            t,
            "<tr><td>{mode}</td><td>{first}</td><td>{exit}</td><td>{cpu}</td><td>{mem}</td><td>{}</td><td>{}</td></tr>",
            r.host_overhead_ms.map_or("-".into(), |s| fmt_ms(s.median)),
            r.ratio_to_plain.map_or("-".into(), |x| format!(
                "{} / {}",
                fmt_ratio(x.exit),
                fmt_ratio(x.cpu)
            )),
        );
    }
    t.push_str("</table>");
    t
}

/// The whole page.
pub fn render(report: &Report) -> String {
    let m = &report.machine;
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>wasmjobs bench {}</title><style>{CSS}</style></head><body>",
        esc(&report.date)
    );
    let _ = write!(
        out,
        "<h1>wasmjobs bench</h1><p class=\"muted\">{} · {} × {} · {:.0} GiB · Linux {} · wasmjobs {}{} · {} measured runs per mode after one warm-up · <code>{}</code></p>",
        esc(&report.date),
        m.cores,
        esc(&m.cpu),
        m.memory_bytes as f64 / (1u64 << 30) as f64,
        esc(&m.kernel),
        esc(&m.wasmjobs),
        if m.optimized_build {
            ""
        } else {
            " (unoptimised build)"
        },
        report.runs,
        esc(&report.command)
    );
    if !report.goals.is_empty() {
        out.push_str(
            "<h2>Goals</h2><table><tr><th>goal</th><th>measured</th><th>at most</th><th></th></tr>",
        );
        for g in &report.goals {
            let _ = write!(
                out,
                r#"<tr><td>{}<br><span class="muted">{}</span></td><td>{:.3}</td><td>{}</td><td class="{}">{}</td></tr>"#,
                esc(&g.name),
                esc(&g.how),
                g.measured,
                g.at_most,
                if g.met { "met" } else { "miss" },
                if g.met { "met" } else { "not met" }
            );
        }
        out.push_str("</table>");
    }
    for job in &report.jobs {
        let _ = write!(
            out,
            "<h2>{}</h2><p class=\"muted\">Latency per run on a log scale: ● start to exit, ○ start to first output, the bar spans min to p90, the tick is the median.</p>{}",
            esc(&job.name),
            latency_chart(job)
        );
        let ratios = ratio_chart(job);
        if !ratios.is_empty() {
            let _ = write!(
                out,
                "<p class=\"muted\">Median start to exit ÷ the plain process's.</p>{ratios}"
            );
        }
        out.push_str(&numbers(job));
    }
    out.push_str("<h2>Modes</h2><table><tr><th>mode</th><th>what runs</th></tr>");
    for mi in &report.modes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td style=\"text-align:left\">{}{}</td></tr>",
            mi.id.id(),
            esc(mi.description),
            mi.unavailable.as_ref().map_or(String::new(), |w| format!(
                " <span class=\"miss\">not measured: {}</span>",
                esc(w)
            ))
        );
    }
    out.push_str("</table>");
    if !report.skipped.is_empty() {
        out.push_str("<h2>Skipped</h2><ul>");
        for s in &report.skipped {
            let _ = write!(out, "<li>{}</li>", esc(s));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Interpreters</h2><ul>");
    for (name, v) in &m.interpreters {
        let _ = write!(out, "<li>{}: {}</li>", esc(name), esc(v));
    }
    out.push_str("</ul><p class=\"muted\">CPU time of the host's modes is the whole bench process's (host threads included) plus its children's; of the plain process, the child's. Peak memory is measured as each kind of run allows, so compare it within a kind: for wasm, the guest's largest linear memory (what its memory limit caps); for native, the most memory the run's cgroup was charged (not shared pages already cached); for plain, the child's peak resident set. Percentiles are nearest-rank.</p></body></html>\n");
    out
}
