"""The report's generic blocks and page: a self-contained HTML file.

The study's sections (:mod:`mechequiv.study.sections`) build their parts of the page from the
blocks here (:func:`table`, :func:`kv_table`, :func:`records_table`, :func:`figure`,
:func:`measure_info_table`, ...) and the figures of :mod:`mechequiv.report.figures`;
:func:`render_page` assembles the parts with the key findings, the run details and the
references. Nothing here knows a particular experiment.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mechequiv._io import atomic_write_text
from mechequiv.report import texts

_DPI = 110
_TABLE_ROWS_OPEN = 20  # longer tables start collapsed
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class Page:
    """Collects citations in order of first use."""

    def __init__(self) -> None:
        self.refs: dict[str, int] = {}

    def cite(self, key: str) -> str:
        n = self.refs.setdefault(key, len(self.refs) + 1)
        ref = texts.REFERENCES[key]
        return f"<a class='cite' href='#ref-{key}' title='{esc(ref.title)}'>[{n}]</a>"

    def prose(self, text: str) -> str:
        """Escaped text with ``{cite:key}`` replaced by citation links."""
        return re.sub(r"\{cite:(\w+)\}", lambda m: self.cite(m.group(1)), esc(text))


def render_page(
    title: str, results: Mapping[str, Any], intro_html: str,
    parts: Sequence[tuple[str, str, str]], page: Page,
) -> str:  # fmt: skip
    """The whole HTML page: the introduction (``page.prose(text)``, rendered before the parts
    so that its citations are numbered first), the key findings (``results["summary"]``), the
    experiments' ``parts`` ((anchor, heading, body) in page order, built with ``page``), the
    run details (timings, versions, configuration) and the references ``page`` collected."""
    sections: list[tuple[str, str, str]] = []
    if "summary" in results:
        items = "".join(f"<li>{esc(s)}</li>" for s in results["summary"])
        sections.append(("summary", "Key findings", f"<ul class='findings'>{items}</ul>"))
    sections += parts
    details = run_details(results)
    if details:
        sections.append(("run", "Run details", details))
    if page.refs:
        sections.append(("references", "References", references(page)))
    return document(title, results, intro_html, sections)


def write_page(path: str | os.PathLike[str], text: str) -> Path:
    """Write a rendered page atomically."""
    return atomic_write_text(path, text)


def run_details(results: Mapping[str, Any]) -> str:
    out = []
    if "timings" in results:
        timings, cached = results["timings"], set(results.get("cached", ()))
        total = sum(timings.values())
        rows = [
            [
                esc(k) + (" <span class='muted'>(cached)</span>" if k in cached else ""),
                f"{v:.1f} s",
                f"<div class='bar' style='width:{100 * v / total if total else 0:.1f}%'></div>",
            ]
            for k, v in timings.items()
        ] + [["<b>sum of stages</b>", f"<b>{total:.1f} s</b>", ""]]
        out.append("<h3>Wall time</h3>" + table(["stage", "wall time", ""], rows, num_cols=(1,)))
        if cached:
            out.append("<p class='muted'>Cached stages were read from disk in this run; their "
                       "time is the time they took when computed.</p>")  # fmt: skip
    if "wall_time" in results:
        out.append(f"<p>This run took <b>{results['wall_time']:.1f} s</b>.</p>")
    if "versions" in results:
        out.append("<h3>Versions</h3>" + kv_table(list(results["versions"].items())))
    if "config" in results:
        text = json.dumps(results["config"], indent=2, default=str)
        out.append(f"<h3>Configuration</h3><details><summary>show the configuration used</summary>"
                   f"<pre>{esc(text)}</pre></details>")  # fmt: skip
    return "".join(out)


def references(page: Page) -> str:
    items = []
    for key in sorted(page.refs, key=page.refs.__getitem__):
        ref = texts.REFERENCES[key]
        items.append(
            f"<li id='ref-{key}'>{esc(ref.authors)}. <i>{esc(ref.title)}</i>. {esc(ref.venue)}. "
            f"<a href='{esc(ref.url)}' rel='noreferrer'>{esc(ref.url)}</a></li>"
        )
    return f"<ol class='refs'>{''.join(items)}</ol>"


# ---------------------------------------------------------------- building blocks


def describe_measures(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Today's registry entries of ``names`` as JSON-safe descriptors (kind, range with None for
    an infinite bound, invariances, family, convention), to be saved with a result so that a
    later report shows the conventions the numbers were computed under."""
    from mechequiv import measures

    out = {}
    for name in names:
        d = measures.get(name).to_dict()
        out[name] = {
            "kind": d["kind"], "range": [v if np.isfinite(v) else None for v in d["range"]],
            "invariances": d["invariances"], "family": d["family"], "convention": d["convention"],
        }  # fmt: skip
    return out


def _descriptor(name: str, stored: Mapping[str, Mapping[str, Any]] | None) -> Mapping[str, Any]:
    """The stored descriptor of ``name``; for results saved without one (older studies),
    today's registry entry; for a measure known to neither, an empty one."""
    if stored and name in stored:
        return stored[name]
    from mechequiv import measures

    return describe_measures([name])[name] if name in measures.names() else {}


def measure_header(name: str, stored: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """A column header for a measure: ↑ for a similarity, ↓ for a distance, with its
    convention as a tooltip."""
    info = _descriptor(name, stored)
    if not info:
        return esc(name)
    arrow = "↑" if info["kind"] == "similarity" else "↓"
    return (
        f"<span title='{esc(info['kind'])}: {esc(info['convention'])}'>{esc(name)} {arrow}</span>"
    )


def measure_info_table(
    page: Page, names: Sequence[str], stored: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """Each measure's kind, range, invariances, convention and papers (from ``stored``
    descriptors where given, see :func:`describe_measures`)."""
    rows = []
    for name in names:
        info = _descriptor(name, stored)
        if not info:
            rows.append([f"<code>{esc(name)}</code>"] + ["—"] * 5)
            continue
        cites = "".join(page.cite(k) for k in texts.FAMILY_REFERENCES.get(info["family"], ()))
        low, high = (
            f"{v:.4g}" if v is not None and np.isfinite(v) else ("∞" if i else "−∞")
            for i, v in enumerate(info["range"])
        )
        rows.append([
            f"<code>{esc(name)}</code>", esc(info["kind"]), f"<span class='nw'>[{low}, {high}]</span>",
            esc(", ".join(sorted(info["invariances"])) or "none"), esc(info["convention"]), cites,
        ])  # fmt: skip
    header = ["measure", "kind", "range", "invariant to", "convention", "papers"]
    return table(header, rows, caption="Measure conventions", num_cols=())


def records_table(records: Sequence[Mapping[str, Any]], caption: str) -> str:
    cols = list(dict.fromkeys(k for r in records for k in r))
    rows = [[cell(r.get(c)) for c in cols] for r in records]
    return table([esc(c) for c in cols], rows, caption=caption)


def kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{cell(v)}</td></tr>" for k, v in pairs if v is not None
    )
    return f"<table class='kv'>{rows}</table>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str | None = None,
           num_cols: Sequence[int] | None = None) -> str:  # fmt: skip
    """A table from already-escaped cells; cells that look numeric are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for c, value in enumerate(row):
            numeric = c in num_cols if num_cols is not None else _looks_numeric(value)
            cells.append(f"<td class='num'>{value}</td>" if numeric else f"<td>{value}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    out = f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    if caption is None:
        return out
    opened = " open" if len(rows) <= _TABLE_ROWS_OPEN else ""
    return f"<details class='tbl'{opened}><summary>{esc(caption)} ({len(rows)} rows)</summary>{out}</details>"


def figure(fig: Figure, alt: str, caption: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    data = buf.getvalue()
    width = struct.unpack(">I", data[16:20])[0]  # PNG IHDR: width in pixels
    b64 = base64.b64encode(data).decode("ascii")
    css_width = round(width * 96 / _DPI)
    return (
        f"<figure><img src='data:image/png;base64,{b64}' alt='{esc(alt)}' width='{css_width}'>"
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def cell(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float | np.integer | np.floating) or v is None:
        return num(v)
    if isinstance(v, str):
        return esc(v)
    return f"<code>{esc(json.dumps(v, default=str))}</code>"


def num(v: Any) -> str:
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


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def document(
    title: str, results: Mapping[str, Any], intro: str, sections: list[tuple[str, str, str]]
) -> str:
    from mechequiv import __version__

    toc = "".join(f"<a href='#{key}'>{esc(h)}</a>" for key, h, body in sections if body)
    blocks = "".join(
        f"<section id='{key}'><h2>{esc(h)}</h2>{body}</section>"
        for key, h, body in sections
        if body
    )
    created = f" · {esc(results['created'])}" if "created" in results else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{esc(title)}</title>
<style>{_CSS}</style></head>
<body><header><div class="wrap"><h1>{esc(title)}</h1>
<p class="sub">mechequiv {esc(__version__)}{created}</p><nav id='toc'>{toc}</nav></div></header>
<main class="wrap"><p class="intro">{intro}</p>{blocks}</main>
<footer class="wrap">Generated by mechequiv {esc(__version__)}. Self-contained: this file loads nothing from the network.</footer>
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
