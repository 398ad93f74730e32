"""Run a study: each enabled step in order, each result cached on disk by a hash of its settings.

A step is a function ``(ctx, settings) -> dict`` (JSON-safe) registered in
:mod:`mechequiv.study.steps`. Its result is written atomically to
``out/cache/<step>-<key>.json``, where the key hashes the step's settings, the seed, the step's
version and a fingerprint of the code it runs (:mod:`mechequiv.study.fingerprint`); a rerun with
the same settings and the same code reads it back instead of recomputing, and an interrupted
study resumes at the first unfinished step. Trained models live under ``out/zoo/`` in the zoo's
own resumable checkpoints, so even a changed analysis setting reuses them.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mechequiv._io import atomic_write_json
from mechequiv.study.config import StudyConfig


@dataclass
class StudyContext:
    """What a step may use: the config, the output folder, and objects shared between steps."""

    config: StudyConfig
    out: Path
    progress: bool | None = None
    log: Callable[[str], None] = print
    step_key: str = ""
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)

    def partial_path(self, what: str) -> Path:
        """Where the running step keeps resumable partial results (keyed like its cache)."""
        return self.out / "cache" / f"{what}-{self.step_key}.partial.json"

    def shared(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()`` once per study run (e.g. a trained zoo several steps compare)."""
        if key not in self._shared:
            self._shared[key] = build()
        return self._shared[key]


def versions() -> dict[str, str]:
    """Versions of what produced the results."""
    import numpy
    import torch

    import mechequiv

    return {"mechequiv": mechequiv.__version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}  # fmt: skip


def step_key(name: str, config: StudyConfig) -> str:
    """The cache key of step ``name``: a hash of its settings and the study seed, and of the
    version and code fingerprint (:func:`~mechequiv.study.fingerprint.code_fingerprint`) of the
    step and of the steps it depends on, so that changed code never returns an old result."""
    from mechequiv.study.fingerprint import code_fingerprint
    from mechequiv.study.steps import STEPS

    names = (name, *STEPS[name].depends)
    blob = json.dumps(
        {
            "step": name,
            "settings": {s: config.steps[s] for s in names},
            "seed": config.seed,
            "code": {s: [STEPS[s].version, code_fingerprint(STEPS[s].run)] for s in names},
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
    """Run every enabled step of ``config`` into ``out`` and write ``out/results.json``.

    Parameters
    ----------
    config : StudyConfig
        From :func:`mechequiv.study.load_config`.
    out : path
        Output folder (created). Holds ``results.json``, ``cache/`` and ``zoo/``.
    progress : bool or None
        Progress bars: None shows them only on a terminal.
    force : bool
        Recompute every step even when a cached result exists (trained models are still reused).
    log : callable
        Receives one line per step (started, cached, finished with its wall time), prefixed
        with its position among the enabled steps (``[2/5] equivalence: running``).

    Returns
    -------
    dict
        The content of ``results.json`` (the schema of :mod:`mechequiv.report.schema`):
        ``title``, ``created``, ``config``, ``versions``, ``timings`` (seconds per step, as
        first computed), ``cached`` (steps read from the cache this run), ``wall_time`` (this
        run) and one entry per step with that step's result.
    """
    from mechequiv.study.fingerprint import code_fingerprint
    from mechequiv.study.steps import STEPS, summarise

    out = Path(out)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    unknown = [s for s in config.enabled() if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown study steps {unknown}; expected some of {sorted(STEPS)}")
    ctx = StudyContext(config, out, progress, log)
    results: dict[str, Any] = {
        "title": config.heading(), "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": config.to_dict(), "versions": versions(), "timings": {}, "cached": [],
    }  # fmt: skip
    start = time.perf_counter()
    enabled = config.enabled()
    for i, name in enumerate(enabled, 1):
        step_log = _counted(log, f"[{i}/{len(enabled)}] {name}")
        settings = config.steps[name]
        ctx.step_key = step_key(name, config)
        path = out / "cache" / f"{name}-{ctx.step_key}.json"
        if path.exists() and not force:
            saved = json.loads(path.read_text())
            results["cached"].append(name)
            step_log(f"cached ({saved['seconds']:.1f} s when computed)")
        else:
            step_log("running")
            t0 = time.perf_counter()
            result = STEPS[name](ctx, settings)
            saved = {"result": result, "seconds": time.perf_counter() - t0}
            # Order is kept (a report's columns and colours follow it), and the fresh result is
            # the JSON round trip of what was saved, so a resumed run reports the same thing.
            atomic_write_json(path, saved, sort_keys=False)
            saved = json.loads(path.read_text())
            step_log(f"done in {saved['seconds']:.1f} s")
        results[name] = saved["result"]
        results["timings"][name] = saved["seconds"]
        # provenance: the code that produced this result (the same whether it ran or was read)
        results["versions"][f"{name} step"] = (
            f"version {STEPS[name].version}, code {code_fingerprint(STEPS[name].run)}"
        )
    results["summary"] = summarise(results)
    results["wall_time"] = time.perf_counter() - start
    atomic_write_json(out / "results.json", results, sort_keys=False)
    return results
