"""The HTML report: sections present and absent, escaping, self-containment, atomic writes."""

from __future__ import annotations

import base64
import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from mechequiv import measures
from mechequiv.report import figures as F
from mechequiv.report.texts import REFERENCES
from mechequiv.study.report import render_report, write_report
from tests.report.example import synthetic_results

ALL_SECTIONS = ["summary", "zoo", "equivalence", "baselines", "tensorsim", "identifiability",
                "measures", "run", "references"]  # fmt: skip


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the ids of the enclosing elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str], list[str]]] = []
        self._stack: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs, [i for _, i in self._stack if i]))
        if tag not in ("img", "meta", "link", "br", "hr", "input"):
            self._stack.append((tag, attrs.get("id", "")))

    def handle_endtag(self, tag):
        while self._stack:
            if self._stack.pop()[0] == tag:
                break


def _parse(text: str) -> _Tags:
    parser = _Tags()
    parser.feed(text)
    return parser


def _section_ids(text: str) -> list[str]:
    return [a["id"] for tag, a, _ in _parse(text).tags if tag == "section"]


@pytest.fixture(scope="module")
def full_html() -> str:
    return render_report(synthetic_results(), title="study")


def test_full_report_has_every_section_and_figure(full_html: str) -> None:
    assert full_html.startswith("<!DOCTYPE html>")
    assert _section_ids(full_html) == ALL_SECTIONS
    tags = _parse(full_html).tags
    toc = [a["href"] for tag, a, parents in tags if tag == "a" and parents == ["toc"]]
    assert toc == [f"#{s}" for s in ALL_SECTIONS]
    imgs = [a for tag, a, _ in tags if tag == "img"]
    assert len(imgs) == 6
    for img in imgs:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")
        assert img["alt"] and int(img["width"]) > 0


def test_tables_carry_the_numbers_and_measure_conventions(full_html: str) -> None:
    r = synthetic_results()
    eq = r["equivalence"]
    s, lo, hi = (np.array(eq[k]) for k in ("score", "ci_low", "ci_high"))
    pair = f"<td class='num'>{s[0, 3]:.3f}</td><td>[{lo[0, 3]:.2f}, {hi[0, 3]:.2f}]</td>"
    assert pair + "<td class='num'>1.00e-04</td>" in full_html  # then the binomial p-value
    # the measures table: cca was not computed for this pair
    cells = "<td class='num'>0.950</td><td class='num'>0.300</td><td class='num'>—</td>"
    assert "<td>pizza-0</td><td>pizza-1</td>" + cells in full_html
    for name in ("linear_cka", "procrustes"):
        info = measures.get(name)
        assert info.convention.replace("'", "&#x27;") in full_html
    assert "linear_cka ↑" in full_html and "procrustes ↓" in full_html
    assert "<b>55.2 s</b>" in full_html  # sum of stages: 12.5 + 30.25 + 4 + 8.5
    assert "<td>zoo <span class='muted'>(cached)</span></td>" in full_html
    assert "This run took <b>43.0 s</b>" in full_html
    assert "0.240" in full_html  # backdoor delta
    # identifiability: median [min, max] (share equal to 1), per width
    rows = [x for x in r["identifiability"]["per_seed"] if x["width"] == 3]
    c = np.array([x["circuits"] for x in rows])
    assert f"{np.median(c):g} [{c.min():g}, {c.max():g}] ({np.mean(c == 1):.0%})" in full_html
    assert "&quot;p&quot;: 59" in full_html  # the config, verbatim JSON (escaped)
    assert "2026-11-23T09:00:00Z" in full_html


def test_citations_resolve_and_only_cited_papers_are_listed(full_html: str) -> None:
    cited = set(re.findall(r"href='#ref-(\w+)'", full_html))
    listed = set(re.findall(r"<li id='ref-(\w+)'>", full_html))
    assert cited == listed
    assert {"sun2026", "nissen2026", "meloux2025", "kornblith2019", "williams2021"} <= listed
    numbers = [int(n) for n in re.findall(r"class='cite'[^>]*>\[(\d+)\]", full_html)]
    assert sorted(set(numbers)) == list(range(1, len(listed) + 1))


def test_only_some_sections() -> None:
    r = synthetic_results()
    eq = dict(r["equivalence"])
    del eq["baselines"]
    text = render_report({"equivalence": eq, "timings": r["timings"]})
    assert _section_ids(text) == ["equivalence", "run", "references"]
    assert "Similarity measures side by side" not in text
    assert len([t for t, _, _ in _parse(text).tags if t == "img"]) == 1
    assert "<h3>Versions</h3>" not in text and "<h3>Wall time</h3>" in text
    assert set(re.findall(r"<li id='ref-(\w+)'>", text)) == {"klabunde2025", "sun2026"}

    text = render_report({"identifiability": r["identifiability"]})
    assert _section_ids(text) == ["identifiability", "references"]

    empty = render_report({})
    assert _section_ids(empty) == ["references"]  # the introduction cites the survey
    assert "<img" not in empty


def test_all_text_is_escaped(tmp_path: Path) -> None:
    evil = "<script>alert('x')</script>&"
    r = synthetic_results()
    r["summary"] = [evil]
    r["config"] = {"note": "</pre><script>alert(1)</script>"}
    r["versions"] = {evil: evil}
    r["timings"] = {evil: 1.0}
    eq = r["equivalence"]
    eq["names"][0] = evil
    eq["names"][1] = "cost $^{"  # would be broken math in matplotlib
    eq["groups"] = [evil if g == "Pizza" else g for g in eq["groups"]]
    eq["task"] = evil
    r["zoo"]["models"][0]["name"] = evil
    r["zoo"]["models"][0]["note"] = {"nested": evil}
    r["measures"]["pairs"][0]["a"] = evil
    r["measures"]["description"] = evil
    r["identifiability"]["task"] = evil
    r["tensorsim"]["model"] = evil
    r["tensorsim"]["curves"] = {evil: r["tensorsim"]["curves"]["test_accuracy"]}
    text = render_report(r, title=evil)
    assert "<script" not in text.lower()
    assert "alert('x')" not in text
    tags = {t for t, _, _ in _parse(text).tags}
    assert "script" not in tags
    assert text.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;") >= 10


def test_self_contained_no_outside_resources(full_html: str) -> None:
    """Nothing is loaded from outside the file; external addresses appear only as the papers'
    links in the reference list (plain <a href>, loaded only when clicked)."""
    csp = [a for t, a, _ in _parse(full_html).tags if t == "meta" and a.get("http-equiv")]
    assert csp[0]["content"].startswith("default-src 'none'")
    external = []
    for tag, attrs, parents in _parse(full_html).tags:
        assert tag not in ("script", "iframe", "object", "embed", "base")
        for key in ("src", "srcset", "data", "action", "poster", "background"):
            assert not attrs.get(key, "data:").lower().startswith(("http:", "https:", "//")), (
                tag,
                key,
            )
        if tag == "link":
            assert attrs["href"].startswith("data:")
        if tag == "a" and re.match(r"(?i)(https?:)?//", attrs.get("href", "")):
            assert parents[-1].startswith("ref-"), attrs["href"]
            external.append(attrs["href"])
    assert "url(" not in full_html and "@import" not in full_html
    assert sorted(external) == sorted(
        {REFERENCES[k].url for k in re.findall(r"<li id='ref-(\w+)'>", full_html)}
    )


def test_write_report_is_atomic(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "out" / "report.html"
    r = synthetic_results()
    small = {"identifiability": r["identifiability"]}
    assert write_report(small, path) == path
    before = path.read_text(encoding="utf-8")
    assert "Identifiability audit" in before

    with pytest.raises(ValueError, match="unknown key"):
        write_report({"typo": 1}, path)

    def boom(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(F, "identifiability_counts", boom)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(copy.deepcopy(small), path)
    assert path.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temporary left


def test_missing_values_show_as_dashes() -> None:
    r = synthetic_results()
    eq = r["equivalence"]
    for k in ("score", "ci_low", "ci_high"):
        eq[k][0][1] = eq[k][1][0] = None
    del eq["baselines"]
    text = render_report({"equivalence": eq})
    assert (
        "<td>pizza-0</td><td>pizza-1</td><td>yes</td><td class='num'>—</td><td class='num'>—</td>"
        in text
    )


def test_measure_conventions_table_shows_ranges_with_infinity() -> None:
    pairs = [
        {"a": "x", "b": "y", "values": {"linear_regression_similarity": -0.5, "procrustes": 0.2}}
    ]
    text = render_report({"measures": {"pairs": pairs}})
    assert "<span class='nw'>[−∞, 1]</span>" in text
    assert "<span class='nw'>[0, 1.571]</span>" in text
    assert "linear_regression_similarity ↑" in text
    assert "<td class='num'>-0.500</td>" in text


def test_title_from_argument_or_results() -> None:
    assert "<title>from results</title>" in render_report({"title": "from results"})
    assert "<title>given</title>" in render_report({"title": "from results"}, title="given")
    assert "<title>mechequiv report</title>" in render_report({})


def test_long_tables_start_collapsed() -> None:
    models = [{"name": f"m{i}", "seed": i} for i in range(25)]
    text = render_report({"zoo": {"models": models}})
    assert "<details class='tbl'><summary>Models (25 rows)</summary>" in text
    text = render_report({"zoo": {"models": models[:3]}})
    assert "<details class='tbl' open><summary>Models (3 rows)</summary>" in text
    assert "<img" not in text  # no curves, no figure
