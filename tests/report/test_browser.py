"""The report opens in a real browser: headless Chromium loads every figure and logs no error.

Chromium comes from Debian's ``chromium`` package: when it is missing, the fixture runs
``scripts/ensure_chromium.sh`` (which installs it as root) and skips with its reason otherwise.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mechequiv.study.report import write_report
from tests.report._chromium import ENSURE_SCRIPT, Chromium, find_chromium


@pytest.fixture(scope="module")
def browser():
    binary = find_chromium()
    if binary is None:
        done = subprocess.run(
            ["bash", str(ENSURE_SCRIPT)], capture_output=True, text=True, check=False
        )
        binary = find_chromium()
        if binary is None:
            pytest.skip(f"headless Chromium unavailable: {done.stderr.strip() or 'not installed'}")
    with Chromium(binary) as chromium:
        yield chromium


def _assert_clean(report, n_images: int) -> None:
    assert len(report.images) == n_images
    broken = [i["alt"] for i in report.images if not (i["complete"] and i["naturalWidth"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert not report.console, f"console errors: {report.console}"
    outside = [u for u in report.requests if not u.startswith(("file:", "data:"))]
    assert not outside, f"the report requested resources from outside the file: {outside}"


def test_full_report_loads_every_figure_without_errors(browser, results, tmp_path: Path) -> None:
    path = write_report(results, tmp_path / "report.html")
    report = browser.load(path.as_uri())
    # training curves, Congruity, measures side by side, two similarity-over-training, counts
    _assert_clean(report, n_images=6)


def test_partial_report_loads(browser, results, tmp_path: Path) -> None:
    partial = {k: results[k] for k in ("identifiability", "versions")}
    report = browser.load(write_report(partial, tmp_path / "partial.html").as_uri())
    _assert_clean(report, n_images=1)


def test_the_checks_catch_a_broken_image_and_a_console_error(browser, tmp_path: Path) -> None:
    """The browser checks can fail: a page with a broken image and a console error is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><img alt='broken' src='data:image/png;base64,AAAA'>"
        "<img alt='missing' src='missing.png'>"
        "<script>console.error('boom'); undefined_function();</script></body></html>",
        encoding="utf-8",
    )
    report = browser.load(page.as_uri())
    assert [i["naturalWidth"] for i in report.images] == [0, 0]
    text = "\n".join(report.console)
    assert "console.error: boom" in text
    assert "undefined_function" in text
    with pytest.raises(AssertionError):
        _assert_clean(report, n_images=2)
