"""Jinja2 template of the HTML report (kept in Python so that it ships without package-data settings).
A table of contents links every section; every table scrolls inside its own box, and one of more than
:data:`COLLAPSE_ROWS` rows is collapsed (``<details>``)."""

COLLAPSE_ROWS = 25
"""Tables and text sections longer than this are collapsed until opened."""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.meta th { background: none; font-weight: 600; }
tr.neg td { color: #555; }
img { max-width: 100%; height: auto; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
.note { color: #666; font-size: 0.9em; }
.scroll { max-width: 100%; overflow-x: auto; }
nav.toc { background: #f7f7f7; padding: 0.5em 1em; margin: 1em 0; }
nav.toc ol { margin: 0.3em 0; padding-left: 1.5em; columns: 2; }
details > summary { cursor: pointer; color: #444; margin: 0.5em 0; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% if meta %}
<table class="meta">
{% for key, value in meta %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
{% endif %}

<nav class="toc" aria-label="Contents"><strong>Contents</strong>
<ol>{% for id, heading in toc %}<li><a href="#{{ id }}">{{ heading }}</a></li>{% endfor %}</ol>
</nav>

<h2 id="summary">Summary</h2>
<p class="note">Per seed, the metrics are computed over all (victim, suspect) pairs of that seed;
values are mean ± std over seeds. Costs are per verification (one suspect).</p>
{{ table(summary, collapse=False) }}

{% if tasks %}
<h2 id="per-task">Per attack</h2>
<p class="note">Positives of one attack against all negatives of the same seed, mean over seeds.</p>
<h3>{{ tpr_label }}</h3>
{{ table(per_task_tpr) }}
<h3>ROC AUC</h3>
{{ table(per_task_auc) }}
<h3>ARUC</h3>
<p class="note">IPGuard's area under the robustness-uniqueness curves, integrated over thresholds in
[0, 1]: defined for match-rate scores only (n/a for schemes whose scores leave [0, 1]).</p>
{{ table(per_task_aruc) }}
{% endif %}

<h2 id="per-seed">Per seed</h2>
{{ table(per_seed) }}

<h2 id="plots">Plots</h2>
{% for plot in plots %}
<figure>
<img src="data:image/png;base64,{{ plot.data }}" alt="{{ plot.alt }}">
<figcaption class="note">{{ plot.caption }}</figcaption>
</figure>
{% endfor %}

<h2 id="suspects">Suspects</h2>
{{ table(suspects) }}

{% for section in extra_sections %}
<h2 id="{{ section.id }}">{{ section.heading }}</h2>
{% if section.kind == "html" %}<div class="scroll">{{ section.body }}</div>
{% elif section.kind == "image" %}
<img src="data:image/png;base64,{{ section.body }}" alt="{{ section.heading }}">
{% elif section.body.count("\n") > COLLAPSE_ROWS %}
<details><summary>{{ section.body.count("\n") + 1 }} lines</summary><pre>{{ section.body }}</pre></details>
{% else %}<pre>{{ section.body }}</pre>
{% endif %}
{% endfor %}
</body>
</html>
"""

TABLE_MACRO = """{% macro table(t, collapse=True) -%}
{% set folded = collapse and t.rows | length > COLLAPSE_ROWS %}
{% if folded %}<details><summary>{{ t.rows | length }} rows</summary>{% endif %}
<div class="scroll"><table>
<thead><tr>{% for h in t.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}<tr{% if row.cls %} class="{{ row.cls }}"{% endif %}>
{%- for cell in row.cells %}<td{% if t.num[loop.index0] %} class="num"{% endif %}>{{ cell }}</td>{% endfor -%}
</tr>
{% endfor %}</tbody>
</table></div>
{% if folded %}</details>{% endif %}
{%- endmacro %}
"""
