"""The study report as one self-contained HTML file.

Figures are embedded as base64 PNG and the style sheet is inline; the page loads nothing from
anywhere (a Content-Security-Policy forbids it), so it can be mailed or archived as is. The only
external addresses are the papers' links in the reference list, which load nothing until clicked.
All text from ``results`` is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mechequiv._io import atomic_write_text
from mechequiv.report import figures, texts
from mechequiv.report._check import as_matrix, as_vector
from mechequiv.report.schema import count_keys, validate_results

_DPI = 110
_TABLE_ROWS_OPEN = 20  # longer tables start collapsed
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def write_report(
    results: Mapping[str, Any], path: str | os.PathLike, *, title: str | None = None
) -> Path:
    """Render ``results`` (see :mod:`mechequiv.report.schema`) and write the HTML file atomically.

    ``title`` defaults to ``results["title"]``, else "mechequiv report". Returns the path written. Raises ``TypeError``/``ValueError`` for results that do not follow
    the schema, before anything is written.
    """
    return atomic_write_text(path, render_report(results, title=title))


def render_report(results: Mapping[str, Any], *, title: str | None = None) -> str:
    """The report for ``results`` as one HTML string; sections absent from ``results`` are skipped.

    ``title`` defaults to ``results["title"]``, else "mechequiv report".
    """
    validate_results(results)
    if title is None:
        title = results.get("title", "mechequiv report")
    page = _Page()
    intro = page.prose(texts.intro([key for key in results if key in _SECTION_KEYS]))
    sections: list[tuple[str, str, str]] = []
    for anchor, key, heading, build in _SECTIONS:
        if key in results:
            sections.append((anchor, heading, build(page, results)))
    details = _run_details(results)
    if details:
        sections.append(("run", "Run details", details))
    if page.refs:
        sections.append(("references", "References", _references(page)))
    return _document(title, results, intro, sections)


class _Page:
    """Collects citations in order of first use."""

    def __init__(self) -> None:
        self.refs: dict[str, int] = {}

    def cite(self, key: str) -> str:
        n = self.refs.setdefault(key, len(self.refs) + 1)
        ref = texts.REFERENCES[key]
        return f"<a class='cite' href='#ref-{key}' title='{_esc(ref.title)}'>[{n}]</a>"

    def prose(self, text: str) -> str:
        """Escaped text with ``{cite:key}`` replaced by citation links."""
        return re.sub(r"\{cite:(\w+)\}", lambda m: self.cite(m.group(1)), _esc(text))


# ---------------------------------------------------------------- sections


def _summary(page: _Page, results: Mapping[str, Any]) -> str:
    items = "".join(f"<li>{_esc(s)}</li>" for s in results["summary"])
    return f"<ul class='findings'>{items}</ul>"


def _zoo(page: _Page, results: Mapping[str, Any]) -> str:
    sec = results["zoo"]
    out = [f"<p>{page.prose(texts.ZOO)}</p>", _records_table(sec["models"], caption="Models")]
    if sec.get("curves"):
        groups = {str(r["name"]): str(r["group"]) for r in sec["models"] if "group" in r}
        fig = figures.training_curves(sec["curves"], groups=groups)
        out.append(
            _figure(
                fig, "Training curves of the zoo models", "Training curves, one line per model."
            )
        )
    return "".join(out)


def _equivalence(page: _Page, results: Mapping[str, Any]) -> str:
    sec = results["equivalence"]
    names, groups = sec["names"], sec.get("groups")
    m = len(names)
    score, lo, hi = (as_matrix(sec[k], k, (m, m)) for k in ("score", "ci_low", "ci_high"))
    settings = [
        ("task", sec.get("task")),
        ("models", m),
        ("rounds per pair (n)", sec.get("n")),
        ("confidence level", f"{sec['level']:.0%}" if "level" in sec else None),
        ("representation", sec.get("representation")),
        ("representation distance", sec.get("distance")),
        ("baselines compare", sec.get("baseline_representation")),
        ("comparison", sec.get("cross")),
        ("implementation sampler", sec.get("sampler")),
    ]
    fig = figures.congruity_heatmap(names, score, lo, hi, groups=groups, level=sec.get("level"))
    level = f"{sec['level']:.0%} " if "level" in sec else ""
    caption = f"Congruity of every pair of models, with its {level}bootstrap confidence interval."
    baselines = {k: as_matrix(v, k, (m, m)) for k, v in sec.get("baselines", {}).items()}
    p = as_matrix(sec["p_value"], "p_value", (m, m)) if "p_value" in sec else None
    header = ["model A", "model B"] + (["same group"] if groups else []) + ["Congruity", "CI"]
    header += ["p (binomial)"] if p is not None else []
    header_html = [_esc(h) for h in header] + [_measure_header(b) for b in baselines]
    rows = []
    for i in range(m):
        for j in range(i + 1, m):
            row = [_esc(names[i]), _esc(names[j])]
            if groups:
                row.append("yes" if groups[i] == groups[j] else "no")
            ci = "—" if np.isnan(lo[i, j]) else f"[{lo[i, j]:.2f}, {hi[i, j]:.2f}]"
            row += [_num(score[i, j]), ci] + ([_num(p[i, j])] if p is not None else [])
            row += [_num(b[i, j]) for b in baselines.values()]
            rows.append(row)
    return "".join([
        f"<p>{page.prose(texts.EQUIVALENCE)}</p>",
        _kv_table(settings),
        _figure(fig, "Congruity heatmap with confidence intervals", caption),
        _table(header_html, rows, caption="Every pair of models"),
    ])  # fmt: skip


def _baselines(page: _Page, results: Mapping[str, Any]) -> str:
    sec = results["equivalence"]
    if not sec.get("baselines"):
        return ""
    mats = {"Congruity": sec["score"], **sec["baselines"]}
    fig = figures.measure_heatmaps(sec["names"], mats, groups=sec.get("groups"),
                                   kinds={"Congruity": "similarity"}, ranges={"Congruity": (0.0, 1.0)})  # fmt: skip
    return "".join([
        f"<p>{page.prose(texts.BASELINES)}</p>",
        _figure(fig, "Congruity and baseline measures side by side",
                "Congruity and representational measures on the same pairs of models."),
        _measure_info_table(page, list(sec["baselines"])),
    ])  # fmt: skip


def _tensorsim(page: _Page, results: Mapping[str, Any]) -> str:
    sec = results["tensorsim"]
    out = [
        f"<p>{page.prose(texts.TENSORSIM)}</p>",
        _training_similarity(sec, "tensor similarity over training"),
    ]
    if "backdoor" in sec:
        bd = sec["backdoor"]
        out += ["<h3>Backdoor insertion</h3>", f"<p>{page.prose(texts.BACKDOOR)}</p>",
                _training_similarity(bd, "similarity over training with a backdoor")]  # fmt: skip
        if bd.get("delta"):
            out.append(_table(["similarity", "Δ (detector)"],
                              [[_esc(k), _num(v)] for k, v in bd["delta"].items()]))  # fmt: skip
    return "".join(out)


def _training_similarity(sec: Mapping[str, Any], what: str) -> str:
    steps = as_vector(sec["steps"], "steps")
    mats = {"tensor similarity": sec["matrix"], **sec.get("baselines", {})}
    curves = sec.get("curves", {})
    fig = figures.similarity_over_training(
        steps, mats, curves=curves, marker_step=sec.get("poison_step")
    )
    model = f" Model: {sec['model']}." if "model" in sec else ""
    caption = f"Every checkpoint against every other ({len(steps)} checkpoints).{model}"
    # Similarity to the final checkpoint at a few checkpoints, next to the curves.
    k = len(steps)
    picks = sorted(set(np.linspace(0, k - 1, min(k, 8)).round().astype(int).tolist()))
    last = {lab: as_matrix(v, lab, (k, k))[-1] for lab, v in mats.items()}
    cols = {lab: as_vector(v, lab, k) for lab, v in curves.items()}
    header = ["step"] + [_esc(f"{lab} to final") for lab in last] + [_esc(c) for c in cols]
    rows = [[_cell(sec["steps"][t])] + [_num(v[t]) for v in last.values()] + [_num(v[t]) for v in cols.values()]
            for t in picks]  # fmt: skip
    return _figure(fig, what, caption) + _table(
        header, rows, caption="Similarity to the final checkpoint"
    )


def _identifiability(page: _Page, results: Mapping[str, Any]) -> str:
    sec = results["identifiability"]
    rows_in = sec["per_seed"]
    counts = count_keys(rows_in)
    fig = figures.identifiability_counts(rows_in, widths=sec["widths"], counts=counts)
    task = f" Task: {sec['task']}." if "task" in sec else ""
    header = ["hidden width", "networks"]
    header += [f"{c}: median [min, max] (share with exactly 1)" for c in counts]
    rows = []
    for w in sec["widths"]:
        at = [r for r in rows_in if r["width"] == w]
        row = [str(w), str(len(at))]
        for c in counts:
            vals = np.asarray([r[c] for r in at if c in r], dtype=float)
            if vals.size:
                row.append(
                    f"{np.median(vals):g} [{vals.min():g}, {vals.max():g}] ({np.mean(vals == 1):.0%})"
                )
            else:
                row.append("—")
        rows.append(row)
    calibration = ""
    if sec.get("calibration"):  # scores against exact equivalence (identifiability.calibration)
        calibration = _figure(
            figures.exact_equivalence_calibration(sec["calibration"]),
            "Calibration against exact equivalence",
            "Left: score bins against the observed rate of exact equivalence (pair counts above "
            "the bars; the diagonal is perfect calibration). Right: ROC with its AUC.",
        )
    return "".join([
        f"<p>{page.prose(texts.IDENTIFIABILITY)}</p>",
        _figure(fig, "Identifiability counts against hidden width",
                f"Counts per trained network against hidden width (symmetric-log axis).{task}"),
        _table([_esc(h) for h in header], rows, caption="Counts per hidden width"),
        calibration,
    ])  # fmt: skip


def _measures(page: _Page, results: Mapping[str, Any]) -> str:
    sec = results["measures"]
    names = list(dict.fromkeys(n for p in sec["pairs"] for n in p["values"]))
    rows = [
        [_esc(p["a"]), _esc(p["b"])] + [_num(p["values"].get(n)) for n in names]
        for p in sec["pairs"]
    ]
    desc = f"<p class='muted'>{_esc(sec['description'])}</p>" if "description" in sec else ""
    return "".join([
        f"<p>{page.prose(texts.MEASURES)}</p>",
        desc,
        _table(["model A", "model B"] + [_measure_header(n) for n in names], rows),
        _measure_info_table(page, names),
    ])  # fmt: skip


# (anchor, results key, heading, builder), in page order.
_SECTIONS: tuple[tuple[str, str, str, Callable[[_Page, Mapping[str, Any]], str]], ...] = (
    ("summary", "summary", "Key findings", _summary),
    ("zoo", "zoo", "Models", _zoo),
    ("equivalence", "equivalence", "Interpretive equivalence (Congruity)", _equivalence),
    ("baselines", "equivalence", "Similarity measures side by side", _baselines),
    ("tensorsim", "tensorsim", "Tensor similarity over training", _tensorsim),
    ("identifiability", "identifiability", "Identifiability audit", _identifiability),
    ("measures", "measures", "Representational measures", _measures),
)
_SECTION_KEYS = frozenset(key for _, key, _, _ in _SECTIONS)


def _run_details(results: Mapping[str, Any]) -> str:
    out = []
    if "timings" in results:
        timings, cached = results["timings"], set(results.get("cached", ()))
        total = sum(timings.values())
        rows = [
            [
                _esc(k) + (" <span class='muted'>(cached)</span>" if k in cached else ""),
                f"{v:.1f} s",
                f"<div class='bar' style='width:{100 * v / total if total else 0:.1f}%'></div>",
            ]
            for k, v in timings.items()
        ] + [["<b>sum of stages</b>", f"<b>{total:.1f} s</b>", ""]]
        out.append("<h3>Wall time</h3>" + _table(["stage", "wall time", ""], rows, num_cols=(1,)))
        if cached:
            out.append("<p class='muted'>Cached stages were read from disk in this run; their "
                       "time is the time they took when computed.</p>")  # fmt: skip
    if "wall_time" in results:
        out.append(f"<p>This run took <b>{results['wall_time']:.1f} s</b>.</p>")
    if "versions" in results:
        out.append("<h3>Versions</h3>" + _kv_table(list(results["versions"].items())))
    if "config" in results:
        text = json.dumps(results["config"], indent=2, default=str)
        out.append(f"<h3>Configuration</h3><details><summary>show the configuration used</summary>"
                   f"<pre>{_esc(text)}</pre></details>")  # fmt: skip
    return "".join(out)


def _references(page: _Page) -> str:
    items = []
    for key in sorted(page.refs, key=page.refs.__getitem__):
        ref = texts.REFERENCES[key]
        items.append(
            f"<li id='ref-{key}'>{_esc(ref.authors)}. <i>{_esc(ref.title)}</i>. {_esc(ref.venue)}. "
            f"<a href='{_esc(ref.url)}' rel='noreferrer'>{_esc(ref.url)}</a></li>"
        )
    return f"<ol class='refs'>{''.join(items)}</ol>"


# ---------------------------------------------------------------- building blocks


def _measure_header(name: str) -> str:
    from mechequiv import measures

    info = measures.get(name)
    arrow = "↑" if info.kind == "similarity" else "↓"
    return f"<span title='{_esc(info.kind)}: {_esc(info.convention)}'>{_esc(name)} {arrow}</span>"


def _measure_info_table(page: _Page, names: Sequence[str]) -> str:
    from mechequiv import measures

    rows = []
    for name in names:
        info = measures.get(name)
        cites = "".join(page.cite(k) for k in texts.FAMILY_REFERENCES.get(info.family, ()))
        low, high = (f"{v:.4g}" if np.isfinite(v) else ("−∞" if v < 0 else "∞") for v in info.range)
        rows.append([
            f"<code>{_esc(name)}</code>", _esc(info.kind), f"<span class='nw'>[{low}, {high}]</span>",
            _esc(", ".join(sorted(info.invariances)) or "none"), _esc(info.convention), cites,
        ])  # fmt: skip
    header = ["measure", "kind", "range", "invariant to", "convention", "papers"]
    return _table(header, rows, caption="Measure conventions", num_cols=())


def _records_table(records: Sequence[Mapping[str, Any]], caption: str) -> str:
    cols = list(dict.fromkeys(k for r in records for k in r))
    rows = [[_cell(r.get(c)) for c in cols] for r in records]
    return _table([_esc(c) for c in cols], rows, caption=caption)


def _kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_cell(v)}</td></tr>" for k, v in pairs if v is not None
    )
    return f"<table class='kv'>{rows}</table>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str | None = None,
           num_cols: Sequence[int] | None = None) -> str:  # fmt: skip
    """A table from already-escaped cells; cells that look numeric are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for c, cell in enumerate(row):
            numeric = c in num_cols if num_cols is not None else _looks_numeric(cell)
            cells.append(f"<td class='num'>{cell}</td>" if numeric else f"<td>{cell}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    table = f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    if caption is None:
        return table
    opened = " open" if len(rows) <= _TABLE_ROWS_OPEN else ""
    return f"<details class='tbl'{opened}><summary>{_esc(caption)} ({len(rows)} rows)</summary>{table}</details>"


def _figure(fig: Figure, alt: str, caption: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    data = buf.getvalue()
    width = struct.unpack(">I", data[16:20])[0]  # PNG IHDR: width in pixels
    b64 = base64.b64encode(data).decode("ascii")
    css_width = round(width * 96 / _DPI)
    return (
        f"<figure><img src='data:image/png;base64,{b64}' alt='{_esc(alt)}' width='{css_width}'>"
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float | np.integer | np.floating) or v is None:
        return _num(v)
    if isinstance(v, str):
        return _esc(v)
    return f"<code>{_esc(json.dumps(v, default=str))}</code>"


def _num(v: Any) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    if isinstance(v, int | np.integer):
        return f"{v:d}"
    v = float(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2e}" if 0 < abs(v) < 0.01 else f"{v:.3f}"


def _looks_numeric(cell: str) -> bool:
    return bool(re.fullmatch(r"[−\-+]?[\d.,]+(e[−\-+]?\d+)?%?( s)?|—", cell))


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _document(
    title: str, results: Mapping[str, Any], intro: str, sections: list[tuple[str, str, str]]
) -> str:
    from mechequiv import __version__

    toc = "".join(f"<a href='#{key}'>{_esc(h)}</a>" for key, h, body in sections if body)
    blocks = "".join(
        f"<section id='{key}'><h2>{_esc(h)}</h2>{body}</section>"
        for key, h, body in sections
        if body
    )
    created = f" · {_esc(results['created'])}" if "created" in results else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{_esc(title)}</title>
<style>{_CSS}</style></head>
<body><header><div class="wrap"><h1>{_esc(title)}</h1>
<p class="sub">mechequiv {_esc(__version__)}{created}</p><nav id='toc'>{toc}</nav></div></header>
<main class="wrap"><p class="intro">{intro}</p>{blocks}</main>
<footer class="wrap">Generated by mechequiv {_esc(__version__)}. Self-contained: this file loads nothing from the network.</footer>
</body></html>
"""


_CSS = """
:root{--fg:#1c2430;--muted:#5c6677;--bg:#f4f6f9;--card:#fff;--line:#e2e6ec;--accent:#1f5fa8}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:1160px;margin:0 auto;padding:0 24px}
header{background:#16324f;color:#fff;padding:26px 0 14px}
header h1{margin:0 0 4px;font-size:26px;font-weight:650}
header .sub{margin:0 0 14px;color:#c4d3e4;font-size:13px}
nav{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13.5px}
nav a{color:#dfe9f5;text-decoration:none;border-bottom:1px solid transparent}
nav a:hover{border-bottom-color:#dfe9f5}
.intro{margin:22px 0 0;color:var(--muted)}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:18px 26px 22px;margin:20px 0;box-shadow:0 1px 2px rgba(20,30,50,.04)}
h2{margin:0 0 10px;font-size:20px;font-weight:620;color:#16324f}
h3{margin:22px 0 8px;font-size:16px;font-weight:620}
p{max-width:80ch}
.muted{color:var(--muted)}
a{color:var(--accent)}
a.cite{text-decoration:none;font-size:.85em;vertical-align:super;margin-left:1px}
ul.findings{margin:0;padding-left:20px}
ul.findings li{margin:4px 0}
figure{margin:16px 0;overflow-x:auto}
figure img{display:block;max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:13px;margin-top:6px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13.5px;margin:8px 0}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:#eef2f7;font-weight:600}
tbody tr:nth-child(even){background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv th{font-weight:600;color:var(--muted);background:none;white-space:nowrap}
details.tbl{margin:10px 0}
summary{cursor:pointer;color:var(--accent);font-size:13.5px}
.bar{height:9px;min-width:2px;background:#7fa9d6;border-radius:4px;width:0}
td:has(.bar){width:40%}
pre{background:#f3f5f8;border:1px solid var(--line);border-radius:6px;padding:12px;overflow:auto;
font-size:12.5px;max-height:480px}
code{font-size:12.5px}
.nw{white-space:nowrap}
ol.refs li{margin:6px 0}
footer{color:var(--muted);font-size:12.5px;padding:6px 24px 30px}
"""
