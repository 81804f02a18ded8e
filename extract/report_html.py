"""The evaluation report as one self-contained HTML page: no scripts, no CDN, charts as CSS bars and inline SVG.

Gold and predicted values are text from documents, hence untrusted: the page is rendered by
Jinja2 with autoescaping on, and the SVG is built from numbers only.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment

from extract.evaluate import EvalReport, NoiseCurve

_TEMPLATE = r"""<!DOCTYPE html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jixiao evaluation</title>
<style>
body { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2rem; color: #222; max-width: 1200px; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.note { color: #666; font-size: .9rem; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .7rem 1rem; min-width: 10rem; }
.card .v { font-size: 1.6rem; font-weight: 600; } .card .k { color: #555; font-size: .85rem; }
.card.alert .v { color: #b00020; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; margin: .5rem 0; }
th, td { border-bottom: 1px solid #eee; padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { position: relative; background: #eee; height: .8rem; width: 12rem; border-radius: 3px; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px; }
.bar .ok { background: #2e7d32; } .bar .silent { background: #c62828; }
.val { max-width: 26rem; overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: .82rem; }
.silent-tag { color: #b00020; font-weight: 600; } .flagged-tag { color: #8d6e00; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; vertical-align: middle; }
</style>
</head>
<body>
<h1>jixiao evaluation</h1>
<p class="note">{{ report.detection.gold_tables }} gold tables in {{ report.by_doc|length }} document(s).
{{ report.normalisation }} Texts (narrative.*, goals.*) count as correct at similarity ≥ {{ report.settings.text_match_threshold }};
tables match at line-span IoU ≥ {{ report.settings.table_min_iou }}; indicators align at name similarity ≥ {{ report.settings.align_min_similarity }}.</p>

<div class="cards">
  <div class="card alert"><div class="v">{{ pct(report.fields.silent_error_rate) }}</div><div class="k">silent error rate ({{ report.fields.silent }} / {{ report.fields.scored }})</div></div>
  <div class="card"><div class="v">{{ pct(report.fields.accuracy) }}</div><div class="k">field accuracy ({{ report.fields.correct }} / {{ report.fields.scored }})</div></div>
  <div class="card"><div class="v">{{ pct(report.fields.f1) }}</div><div class="k">F1 over non-null fields (P {{ pct(report.fields.precision) }}, R {{ pct(report.fields.recall) }})</div></div>
  <div class="card"><div class="v">{{ pct(report.detection.recall) }}</div><div class="k">table recall ({{ report.detection.matched }} / {{ report.detection.gold_tables }})</div></div>
  <div class="card"><div class="v">{{ pct(report.detection.precision) }}</div><div class="k">table precision ({{ report.detection.matched }} / {{ report.detection.pred_tables }})</div></div>
  <div class="card"><div class="v">{{ pct(report.detection.template_accuracy) }}</div><div class="k">template right among matched</div></div>
</div>
<p class="note">Wrong but flagged: {{ report.fields.flagged_wrong }}; flags on right fields: {{ report.fields.flagged_correct }};
uncertain gold paths skipped: {{ report.uncertain_skipped }}; indicators aligned {{ report.alignment.aligned }} of
{{ report.alignment.gold_indicators }} gold / {{ report.alignment.pred_indicators }} predicted;
category scores matched {{ report.alignment.matched_categories }} of {{ report.alignment.gold_categories }}.</p>

{% if report.noise %}
<h2>Noise robustness</h2>
<p class="note">Seeded OCR damage (seed {{ report.noise.seed }}, backend {{ report.noise.backend }}) on {{ report.noise.docs|join(", ") }}.</p>
{{ noise_svg|safe }}
<p class="legend"><span style="background:#2e7d32"></span>field accuracy <span style="background:#c62828"></span>silent error rate <span style="background:#1565c0"></span>table recall</p>
<table><tr><th>rate</th><th>accuracy</th><th>silent error rate</th><th>F1</th><th>table recall</th><th>table precision</th><th>scored</th><th>damage applied</th></tr>
{% for p in report.noise.points %}<tr><td class="num">{{ p.rate }}</td><td class="num">{{ pct(p.accuracy) }}</td><td class="num">{{ pct(p.silent_error_rate) }}</td>
<td class="num">{{ pct(p.f1) }}</td><td class="num">{{ pct(p.detection_recall) }}</td><td class="num">{{ pct(p.detection_precision) }}</td><td class="num">{{ p.scored }}</td>
<td>{% for k, v in p.damages.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endfor %}</table>
{% endif %}

{% macro group_table(groups, label, detection=True) %}
<table><tr><th>{{ label }}</th>{% if detection %}<th>gold</th><th>pred</th><th>matched</th>{% endif %}<th>scored</th><th>accuracy</th><th></th><th>silent</th><th>F1</th></tr>
{% for g in groups %}<tr><td>{{ g.name }}</td>
{% if detection %}<td class="num">{{ g.detection.gold_tables }}</td><td class="num">{{ g.detection.pred_tables }}</td><td class="num">{{ g.detection.matched }}</td>{% endif %}
<td class="num">{{ g.fields.scored }}</td><td class="num">{{ pct(g.fields.accuracy) }}</td>
<td><div class="bar"><span class="ok" style="width: {{ width(g.fields.accuracy) }}%"></span></div>
<div class="bar"><span class="silent" style="width: {{ width(g.fields.silent_error_rate) }}%"></span></div></td>
<td class="num">{{ pct(g.fields.silent_error_rate) }} ({{ g.fields.silent }})</td><td class="num">{{ pct(g.fields.f1) }}</td></tr>
{% endfor %}</table>
{% endmacro %}

<h2>By template</h2>
{{ group_table(report.by_template, "template") }}
<h2>By document</h2>
{{ group_table(report.by_doc, "document") }}

<h2>Texts</h2>
<p class="note">Similarity over matched tables where gold or prediction has the text.</p>
<table><tr><th>field</th><th>compared</th><th>mean similarity</th><th></th><th>≥ {{ report.settings.text_match_threshold }}</th></tr>
{% for t in report.texts %}<tr><td>{{ t.field }}</td><td class="num">{{ t.compared }}</td><td class="num">{{ pct(t.mean_similarity) }}</td>
<td><div class="bar"><span class="ok" style="width: {{ width(t.mean_similarity) }}%"></span></div></td><td class="num">{{ t.at_threshold }}</td></tr>
{% endfor %}</table>

<h2>By field</h2>
{{ group_table(report.by_field, "field", detection=False) }}

<h2>Worst errors</h2>
<p class="note">{{ report.errors|length }} of {{ report.errors_total }} wrong fields in matched tables (silent first, then by how far off).
Fields of missing tables are counted but listed below as tables.</p>
<table><tr><th>document</th><th>line</th><th>field</th><th>gold</th><th>predicted</th><th></th></tr>
{% for e in report.errors %}<tr><td>{{ e.doc }}</td><td class="num">{{ e.line }}</td>
<td>{{ e.path }}{% if e.pred_path and e.pred_path != e.path %}<br><span class="note">pred {{ e.pred_path }}</span>{% endif %}{% if e.kind != "compared" %}<br><span class="note">{{ e.kind }}</span>{% endif %}</td>
<td class="val" title="{{ show(e.gold, 0) }}">{{ show(e.gold) }}</td><td class="val" title="{{ show(e.pred, 0) }}">{{ show(e.pred) }}</td>
<td>{% if e.flagged %}<span class="flagged-tag">flagged</span>{% else %}<span class="silent-tag">silent</span>{% endif %}</td></tr>
{% endfor %}</table>

<h2>Missing tables</h2>
{% if report.missing_tables %}<table><tr><th>document</th><th>lines</th><th>template</th><th>title</th></tr>
{% for t in report.missing_tables %}<tr><td>{{ t.doc }}</td><td class="num">{{ t.start_line }}–{{ t.end_line }}</td><td>{{ t.template }}</td><td>{{ t.title or "" }}</td></tr>{% endfor %}
</table>{% else %}<p class="note">None.</p>{% endif %}

<h2>Extra tables</h2>
{% if report.extra_tables %}<table><tr><th>document</th><th>lines</th><th>template</th><th>title</th></tr>
{% for t in report.extra_tables %}<tr><td>{{ t.doc }}</td><td class="num">{{ t.start_line }}–{{ t.end_line }}</td><td>{{ t.template }}</td><td>{{ t.title or "" }}</td></tr>{% endfor %}
</table>{% else %}<p class="note">None.</p>{% endif %}

{% if report.extractor_errors %}<h2>Extractor errors</h2>
<table><tr><th>document</th><th>lines</th><th>stage</th><th>message</th></tr>
{% for e in report.extractor_errors %}<tr><td>{{ e.doc }}</td><td class="num">{{ e.start_line or "" }}–{{ e.end_line or "" }}</td><td>{{ e.stage }}</td><td>{{ e.message }}</td></tr>{% endfor %}
</table>{% endif %}
{% if report.ignored_pred_docs %}<p class="note">Predictions for documents without gold were ignored: {{ report.ignored_pred_docs|join(", ") }}</p>{% endif %}
</body>
</html>
"""

_environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _width(value: float | None) -> str:
    return "0" if value is None else f"{max(0.0, min(1.0, value)) * 100:.1f}"


def _show(value: Any, limit: int = 160) -> str:
    """A value as the report shows it: strings as printed, everything else as JSON; cut at ``limit`` (0: whole)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if not limit or len(text) <= limit else text[: limit - 1] + "…"


def noise_chart_svg(curve: NoiseCurve, width: int = 560, height: int = 260) -> str:
    """Accuracy, silent error rate and table recall against the noise rate, as an inline SVG (numbers only)."""
    left, right, top, bottom = 48, 16, 12, 36
    plot_width, plot_height = width - left - right, height - top - bottom
    rates = [point.rate for point in curve.points]
    low, high = (min(rates), max(rates)) if rates else (0.0, 1.0)
    span = high - low or 1.0

    def x(rate: float) -> float:
        return left + (rate - low) / span * plot_width

    def y(value: float) -> float:
        return top + (1.0 - max(0.0, min(1.0, value))) * plot_height

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            'aria-label="accuracy and silent error rate against noise rate" style="font: 11px sans-serif">'
        )
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick * 100:.0f}%</text>'
        )
    for rate in rates:
        parts.append(f'<text x="{x(rate):.1f}" y="{height - bottom + 16}" text-anchor="middle">{rate:g}</text>')
    parts.append(f'<text x="{left + plot_width / 2:.1f}" y="{height - 4}" text-anchor="middle">noise rate</text>')
    series = (
        ("accuracy", "#2e7d32", [point.accuracy for point in curve.points]),
        ("silent error rate", "#c62828", [point.silent_error_rate for point in curve.points]),
        ("table recall", "#1565c0", [point.detection_recall for point in curve.points]),
    )
    for label, colour, values in series:
        known = [(rate, value) for rate, value in zip(rates, values, strict=True) if value is not None]
        if len(known) > 1:
            path = " ".join(f"{x(rate):.1f},{y(value):.1f}" for rate, value in known)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for rate, value in known:
            parts.append(
                f'<circle cx="{x(rate):.1f}" cy="{y(value):.1f}" r="3" fill="{colour}">'
                f"<title>{label} at {rate:g}: {value * 100:.1f}%</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: EvalReport) -> str:
    """The whole report page; every document-derived string is escaped by the template engine."""
    template = _environment.from_string(_TEMPLATE)
    return template.render(
        report=report,
        pct=_percent,
        width=_width,
        show=_show,
        noise_svg=noise_chart_svg(report.noise) if report.noise and report.noise.points else "",
    )
