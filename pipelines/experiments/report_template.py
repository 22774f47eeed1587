"""The HTML of a run report: one self-contained page (plots inlined), no scripts, no network."""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
 body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
 h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem;
 border-bottom: 1px solid #ddd; } .muted { color: #666; } table { border-collapse: collapse;
 margin: .5rem 0; } th, td { padding: .25rem .7rem; border-bottom: 1px solid #eee;
 text-align: left; vertical-align: top; } td.num { text-align: right;
 font-variant-numeric: tabular-nums; } .plots img { max-width: 48%; margin: .3rem; border: 1px
 solid #eee; } pre { background: #f6f6f6; padding: .7rem; overflow-x: auto; font-size: 13px; }
 .better { color: #1a7f37; } .worse { color: #b42318; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="muted">run <code>{{ run_id }}</code> &middot; {{ kind }} &middot; started {{ started }}
 &middot; {{ duration }}{% if status != 'RUNNING' %} &middot; status {{ status }}{% endif %} &middot; commit <code>{{ commit }}</code>
 {% if dirty == "true" %}(with uncommitted changes){% endif %}</p>
{% if promotion %}<p><strong>Registry:</strong> {{ promotion }}</p>{% endif %}

<h2>Metrics</h2>
<table id="metrics">
<tr><th>metric</th><th>this run</th>{% if champion %}<th>champion v{{ champion.version }}</th>
<th>difference</th>{% endif %}</tr>
{% for row in headline %}<tr><td>{{ row.name }}{% if row.primary %} (primary){% endif %}</td>
<td class="num" data-metric="{{ row.name }}">{{ row.value }}</td>
{% if champion %}<td class="num">{{ row.champion }}</td><td class="num {{ row.css }}">{{ row.delta }}</td>{% endif %}</tr>
{% endfor %}</table>
{% if champion %}<p class="muted">The champion's numbers are from its own run, whose data may
differ; the registry decision above rescored it on this run's validation rows.</p>{% endif %}
{% if other_metrics %}<details><summary>all {{ other_metrics|length }} metrics</summary>
<table>{% for name, value in other_metrics %}<tr><td>{{ name }}</td><td class="num">{{ value }}</td></tr>
{% endfor %}</table></details>{% endif %}

{% if trials %}<h2>Trials</h2>
<p>best: trial {{ best_trial }} ({{ metric }} {{ best_value }})</p>
<table id="trials"><tr><th>trial</th>{% for key in trial_keys %}<th>{{ key }}</th>{% endfor %}
<th>{{ metric }}</th><th>run</th></tr>
{% for t in trials %}<tr><td>{{ t.number }}</td>{% for v in t.cells %}<td class="num">{{ v }}</td>{% endfor %}
<td class="num">{{ t.value }}</td><td><code>{{ t.run_id }}</code></td></tr>{% endfor %}</table>
{% endif %}

{% if plots %}<h2>Plots</h2><div class="plots">
{% for name, data in plots %}<img alt="{{ name }}" title="{{ name }}" src="data:image/png;base64,{{ data }}">
{% endfor %}</div>{% endif %}

{% if data_summary %}<h2>Data</h2>
<table id="data">{% for key, value in data_summary %}<tr><td>{{ key }}</td><td>{{ value }}</td></tr>
{% endfor %}</table>{% endif %}

{% if reasons %}<h2>Top reasons</h2>
<p>First reason of the {{ reasons.members_considered }} validation members most at risk (top decile).</p>
<table id="reasons"><tr><th>driver</th><th>members</th><th>share</th><th>example</th><th>intervention</th></tr>
{% for r in reasons.reasons %}<tr><td>{{ r.driver }}</td><td class="num">{{ r.members }}</td>
<td class="num">{{ "%.0f"|format(100 * r.share) }}%</td><td>{{ r.example }}</td><td>{{ r.intervention }}</td></tr>
{% endfor %}</table>{% endif %}

{% if importance %}<h2>Most important features</h2>
<table><tr><th>feature</th><th>mean |contribution|</th></tr>
{% for name, value in importance %}<tr><td>{{ name }}</td><td class="num">{{ value }}</td></tr>{% endfor %}
</table>{% endif %}

{% if errors %}<h2>Top errors (test split)</h2>
<table id="errors"><tr><th>error</th><th>probability</th><th>source</th><th>lang</th><th>text</th></tr>
{% for e in errors %}<tr><td>{{ e.error }}</td><td class="num">{{ e.probability }}</td><td>{{ e.source }}</td>
<td>{{ e.lang }}</td><td>{{ e.text }}</td></tr>{% endfor %}</table>{% endif %}

{% if config %}<h2>Resolved config</h2><pre>{{ config }}</pre>{% endif %}
{% if environment %}<h2>Environment</h2><pre>{{ environment }}</pre>{% endif %}
</body>
</html>
"""
