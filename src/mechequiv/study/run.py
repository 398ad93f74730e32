"""Run a study: each enabled section in order, each result cached on disk by a hash of its
settings.

A section (:mod:`mechequiv.study.sections`, listed in :mod:`mechequiv.study.registry`) runs as
``run(ctx, settings) -> Result``. Its result is written atomically to
``out/cache/<name>-<key>.json``, where the key hashes the section's settings, the seed, the
section's ``VERSION`` and a fingerprint of the code it runs (:mod:`mechequiv.study.fingerprint`);
a rerun with the same settings and the same code reads it back instead of recomputing, and an
interrupted study resumes at the first unfinished section. Trained models live under
``out/zoo/`` in the zoo's own resumable checkpoints, so even a changed analysis setting reuses
them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mechequiv._io import atomic_write_json
from mechequiv.study.config import StudyConfig
from mechequiv.study.context import StudyContext, versions
from mechequiv.study.fingerprint import code_fingerprint
from mechequiv.study.registry import SECTIONS
from mechequiv.study.report import summarise

__all__ = ["StudyContext", "run_study", "step_key", "versions"]


def step_key(name: str, config: StudyConfig) -> str:
    """The cache key of section ``name``: a hash of its settings and the study seed, and of the
    version and code fingerprint (:func:`~mechequiv.study.fingerprint.code_fingerprint`) of the
    section and of the sections it depends on, so that changed code never returns an old
    result."""
    names = (name, *SECTIONS[name].depends)
    blob = json.dumps(
        {
            "step": name,
            "settings": {s: config.steps[s] for s in names},
            "seed": config.seed,
            "code": {s: [SECTIONS[s].version, code_fingerprint(SECTIONS[s].run)] for s in names},
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _counted(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda message: log(f"{prefix}: {message}")


def run_study(
    config: StudyConfig,
    out: str | Path,
    *,
    progress: bool | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every enabled section of ``config`` into ``out`` and write ``out/results.json``.

    Parameters
    ----------
    config : StudyConfig
        From :func:`mechequiv.study.load_config`.
    out : path
        Output folder (created). Holds ``results.json``, ``cache/`` and ``zoo/``.
    progress : bool or None
        Progress bars: None shows them only on a terminal.
    force : bool
        Recompute every section even when a cached result exists (trained models are still
        reused).
    log : callable
        Receives one line per section (started, cached, finished with its wall time), prefixed
        with its position among the enabled sections (``[2/5] equivalence: running``).

    Returns
    -------
    dict
        The content of ``results.json`` (validated by
        :func:`mechequiv.study.report.validate_results`): ``title``, ``created``, ``config``,
        ``versions``, ``timings`` (seconds per section, as first computed), ``cached``
        (sections read from the cache this run), ``summary``, ``wall_time`` (this run) and one
        entry per section with its result's ``to_dict()``.
    """
    out = Path(out)
    enabled = config.enabled()
    unknown = [s for s in enabled if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown study steps {unknown}; expected some of {sorted(SECTIONS)}")
    # every table parsed into its settings dataclass before anything runs
    settings = {name: SECTIONS[name].parse(config.steps[name]) for name in enabled}
    (out / "cache").mkdir(parents=True, exist_ok=True)
    ctx = StudyContext(config, out, progress, log)
    results: dict[str, Any] = {
        "title": config.heading(), "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": config.to_dict(), "versions": versions(), "timings": {}, "cached": [],
    }  # fmt: skip
    start = time.perf_counter()
    for i, name in enumerate(enabled, 1):
        section = SECTIONS[name]
        step_log = _counted(log, f"[{i}/{len(enabled)}] {name}")
        ctx.step_key = step_key(name, config)
        path = out / "cache" / f"{name}-{ctx.step_key}.json"
        if path.exists() and not force:
            saved = json.loads(path.read_text())
            results["cached"].append(name)
            step_log(f"cached ({saved['seconds']:.1f} s when computed)")
        else:
            step_log("running")
            t0 = time.perf_counter()
            result = section.run(ctx, settings[name])
            saved = {"result": result.to_dict(), "seconds": time.perf_counter() - t0}
            # Order is kept (a report's columns and colours follow it), and the fresh result is
            # the JSON round trip of what was saved, so a resumed run reports the same thing.
            atomic_write_json(path, saved, sort_keys=False)
            saved = json.loads(path.read_text())
            step_log(f"done in {saved['seconds']:.1f} s")
        results[name] = saved["result"]
        results["timings"][name] = saved["seconds"]
        # provenance: the code that produced this result (the same whether it ran or was read)
        results["versions"][f"{name} step"] = (
            f"version {section.version}, code {code_fingerprint(section.run)}"
        )
    results["summary"] = summarise(results)
    results["wall_time"] = time.perf_counter() - start
    atomic_write_json(out / "results.json", results, sort_keys=False)
    return results
