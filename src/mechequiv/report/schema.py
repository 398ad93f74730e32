"""The results schema the report consumes: the JSON-safe content of a study's ``results.json``.

Every top-level key is optional; the report has one section per key present. Matrices are lists
of equal-length rows; ``null`` (``None``) marks a value that was not computed (it shows as a
blank cell). Unknown keys are refused, so that a typo cannot silently drop a section::

    {
      "title": "mechequiv study",                 # the page title unless write_report gets one
      "created": "2026-11-23T09:00:00Z",          # shown in the header
      "summary": ["Pizza and Clock models are distinguishable ...", ...],   # key findings
      "config": {...},                             # any JSON: the configuration used, shown verbatim
      "versions": {"mechequiv": "0.1.0", "python": "3.11.2", "torch": "2.13.0", ...},
      "timings": {"zoo": 41.2, "equivalence": 80.5, ...},   # stage -> wall time in seconds
      "cached": ["zoo"],                           # stages read from a cache in this run
      "wall_time": 95.0,                           # seconds this run took (cached stages read)
      "zoo": {
        "models": [{"name": "pizza-0", "group": "Pizza", "seed": 0, "test_accuracy": 1.0}, ...],
        "curves": {"pizza-0": {"steps": [0, 100, ...], "train_loss": [...], "test_accuracy": [...]}}
      },
      "equivalence": {                             # interpretive equivalence (Congruity)
        "names": ["pizza-0", "pizza-1", "clock-0", ...],        # m models
        "groups": ["Pizza", "Pizza", "Clock", ...],             # optional, m labels
        "score": [[...]], "ci_low": [[...]], "ci_high": [[...]],  # m x m, in [0, 1]
        "p_value": [[...]],                        # optional m x m: binomial test, small = distinct
        "n": 20, "level": 0.95,                    # rounds per pair, CI level (optional)
        "task": "...", "distance": "repr_distance", "representation": "...",
        "baseline_representation": "...",          # what the baselines compare
        "cross": "implementation",
        "sampler": "...",                          # optional descriptions of the settings
        "baselines": {"linear_cka": [[...]], "procrustes": [[...]]}   # registered measures, m x m
      },
      "tensorsim": {                               # tensor similarity over training
        "model": "bilinear, modular addition P=113",          # optional description
        "steps": [0, 50, ...],                     # k checkpoints (training steps)
        "matrix": [[...]],                         # k x k tensor similarity
        "baselines": {"weight cosine": [[...]]},   # optional, k x k similarities (free labels)
        "curves": {"test_accuracy": [...], "train_accuracy": [...]},   # optional, k values each
        "backdoor": {                              # optional, same keys as above plus:
          "steps": [...], "matrix": [[...]], "baselines": {...}, "curves": {...}, "model": "...",
          "poison_step": 8000,                     # first step trained with poisoned data
          "delta": {"tensor similarity": 0.24, "weight cosine": 0.15}  # detector values
        }
      },
      "identifiability": {                         # identifiability audit (Méloux et al.)
        "task": "XOR",                             # optional
        "widths": [2, 3, 4],
        "per_seed": [{"width": 3, "seed": 0, "circuits": 12, "interpretations": 310,
                      "mappings": 4}, ...],         # converged networks only; any integer counts
        "calibration": [CalibrationData.to_dict(), ...]  # optional: scores vs exact equivalence
      },
      "measures": {                                # representational measures on model pairs
        "description": "hidden layer, 512 task inputs",        # optional
        "pairs": [{"a": "pizza-0", "b": "clock-0", "values": {"linear_cka": 0.91, "cca": null}}]
      }
    }

:func:`validate_results` checks all of this and raises ``TypeError`` (wrong kind) or
``ValueError`` (bad value, missing or unknown key) naming the offending entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from mechequiv.report._check import as_mapping, as_matrix, as_names, as_vector, check_keys

# Keys of an identifiability row that are not counts.
ID_KEYS = ("width", "seed")


class ZooSection(TypedDict, total=False):
    models: list[dict[str, Any]]
    curves: dict[str, dict[str, list[float]]]


class EquivalenceSection(TypedDict, total=False):
    names: list[str]
    groups: list[str]
    score: list[list[float | None]]
    ci_low: list[list[float | None]]
    ci_high: list[list[float | None]]
    p_value: list[list[float | None]]
    n: int
    level: float
    task: str
    distance: str
    representation: str
    baseline_representation: str
    cross: str
    sampler: str
    baselines: dict[str, list[list[float | None]]]


class TrainingSimilarity(TypedDict, total=False):
    model: str
    steps: list[int]
    matrix: list[list[float | None]]
    baselines: dict[str, list[list[float | None]]]
    curves: dict[str, list[float | None]]
    poison_step: int
    delta: dict[str, float]


class TensorsimSection(TrainingSimilarity, total=False):
    backdoor: TrainingSimilarity


class IdentifiabilitySection(TypedDict, total=False):
    task: str
    widths: list[int]
    per_seed: list[dict[str, int]]


class MeasurePair(TypedDict):
    a: str
    b: str
    values: dict[str, float | None]


class MeasuresSection(TypedDict, total=False):
    description: str
    pairs: list[MeasurePair]


class Results(TypedDict, total=False):
    title: str
    created: str
    summary: list[str]
    config: dict[str, Any]
    versions: dict[str, str]
    timings: dict[str, float]
    cached: list[str]
    wall_time: float
    zoo: ZooSection
    equivalence: EquivalenceSection
    tensorsim: TensorsimSection
    identifiability: IdentifiabilitySection
    measures: MeasuresSection


SECTIONS = tuple(Results.__annotations__)


def validate_results(results: Any) -> None:
    """Check ``results`` against the schema in this module's docstring.

    Raises
    ------
    TypeError
        An entry has the wrong kind (e.g. a string where a matrix belongs).
    ValueError
        A required key is missing, a key is unknown, or a value is out of range or of the
        wrong shape.
    """
    results = as_mapping(results, "results")
    check_keys(results, "results", (), SECTIONS)
    for key in ("title", "created"):
        if key in results:
            _string(results[key], f"results[{key!r}]")
    if "cached" in results:
        as_names(results["cached"], "results['cached']")
    if "wall_time" in results:
        _number(results["wall_time"], "results['wall_time']", low=0.0)
    if "summary" in results:
        as_names(results["summary"], "results['summary']")
    if "config" in results:
        as_mapping(results["config"], "results['config']")
    if "versions" in results:
        for k, v in as_mapping(results["versions"], "results['versions']").items():
            _string(v, f"results['versions'][{k!r}]")
    if "timings" in results:
        for k, v in as_mapping(results["timings"], "results['timings']").items():
            _number(v, f"results['timings'][{k!r}]", low=0.0)
    for key, check in _CHECKS.items():
        if key in results:
            check(as_mapping(results[key], f"results[{key!r}]"), f"results[{key!r}]")


def _zoo(sec: Mapping[str, Any], where: str) -> None:
    check_keys(sec, where, ("models",), ("curves",))
    rows = _records(sec["models"], f"{where}['models']")
    for i, row in enumerate(rows):
        if "name" not in row:
            raise ValueError(f"{where}['models'][{i}]: missing required key 'name'")
    for name, curve in as_mapping(sec.get("curves", {}), f"{where}['curves']").items():
        _curves(curve, f"{where}['curves'][{name!r}]", length=None, need_steps=True)


_DESCRIPTIONS = (
    "task",
    "distance",
    "representation",
    "baseline_representation",
    "cross",
    "sampler",
)


def _equivalence(sec: Mapping[str, Any], where: str) -> None:
    check_keys(
        sec,
        where,
        ("names", "score", "ci_low", "ci_high"),
        ("groups", "p_value", "n", "level", *_DESCRIPTIONS, "baselines"),
    )
    m = len(as_names(sec["names"], f"{where}['names']"))
    if m == 0:
        raise ValueError(f"{where}['names']: expected at least one model, found none")
    if "groups" in sec:
        as_names(sec["groups"], f"{where}['groups']", m)
    score, lo, hi = (
        as_matrix(sec[k], f"{where}[{k!r}]", (m, m)) for k in ("score", "ci_low", "ci_high")
    )
    for k, mat in (("score", score), ("ci_low", lo), ("ci_high", hi)):
        _in_range(mat, f"{where}[{k!r}]", 0.0, 1.0)
    if np.any(lo > score + 1e-12) or np.any(score > hi + 1e-12):
        i, j = np.argwhere((lo > score + 1e-12) | (score > hi + 1e-12))[0]
        raise ValueError(
            f"{where}: expected ci_low <= score <= ci_high, found {lo[i, j]:.4g} <= "
            f"{score[i, j]:.4g} <= {hi[i, j]:.4g} at ({i}, {j})"
        )
    if "p_value" in sec:
        _in_range(
            as_matrix(sec["p_value"], f"{where}['p_value']", (m, m)),
            f"{where}['p_value']",
            0.0,
            1.0,
        )
    if "n" in sec:
        _integer(sec["n"], f"{where}['n']", low=1)
    if "level" in sec:
        level = _number(sec["level"], f"{where}['level']", low=0.0)
        if not level < 1.0:
            raise ValueError(f"{where}['level']: expected a value in (0, 1), found {level}")
    for k in _DESCRIPTIONS:
        if k in sec:
            _string(sec[k], f"{where}[{k!r}]")
    for name, mat in as_mapping(sec.get("baselines", {}), f"{where}['baselines']").items():
        _registered(name, f"{where}['baselines']")
        as_matrix(mat, f"{where}['baselines'][{name!r}]", (m, m))


def _tensorsim(sec: Mapping[str, Any], where: str, *, backdoor: bool = False) -> None:
    optional = ["model", "baselines", "curves"]
    optional += ["poison_step", "delta"] if backdoor else ["backdoor"]
    check_keys(sec, where, ("steps", "matrix"), optional)
    k = len(as_vector(sec["steps"], f"{where}['steps']"))
    if k == 0:
        raise ValueError(f"{where}['steps']: expected at least one checkpoint, found none")
    as_matrix(sec["matrix"], f"{where}['matrix']", (k, k))
    for name, mat in as_mapping(sec.get("baselines", {}), f"{where}['baselines']").items():
        as_matrix(mat, f"{where}['baselines'][{name!r}]", (k, k))
    if "curves" in sec:
        _curves(sec["curves"], f"{where}['curves']", length=k, need_steps=False)
    if "model" in sec:
        _string(sec["model"], f"{where}['model']")
    if "poison_step" in sec:
        _number(sec["poison_step"], f"{where}['poison_step']")
    for name, v in as_mapping(sec.get("delta", {}), f"{where}['delta']").items():
        _number(v, f"{where}['delta'][{name!r}]")
    if "backdoor" in sec:
        _tensorsim(
            as_mapping(sec["backdoor"], f"{where}['backdoor']"),
            f"{where}['backdoor']",
            backdoor=True,
        )


def _identifiability(sec: Mapping[str, Any], where: str) -> None:
    check_keys(sec, where, ("widths", "per_seed"), ("task", "calibration"))
    if "calibration" in sec:  # identifiability.calibration.CalibrationData dicts
        from mechequiv.identifiability.calibration import CalibrationData

        for i, d in enumerate(_list(sec["calibration"], f"{where}['calibration']")):
            try:
                CalibrationData.from_dict(as_mapping(d, f"{where}['calibration'][{i}]"))
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{where}['calibration'][{i}]: {err!r}") from err
    if "task" in sec:
        _string(sec["task"], f"{where}['task']")
    widths = [
        _integer(w, f"{where}['widths']", low=1) for w in _list(sec["widths"], f"{where}['widths']")
    ]
    rows = _records(sec["per_seed"], f"{where}['per_seed']")
    counts = count_keys(rows)
    if not counts:
        raise ValueError(
            f"{where}['per_seed']: expected count columns besides {ID_KEYS}, found none"
        )
    for i, row in enumerate(rows):
        at = f"{where}['per_seed'][{i}]"
        check_keys(row, at, ("width", *counts), ("seed",))
        if _integer(row["width"], f"{at}['width']", low=1) not in widths:
            raise ValueError(f"{at}['width']: {row['width']} is not one of the widths {widths}")
        for c in (*counts, "seed"):
            if c in row:
                _integer(row[c], f"{at}[{c!r}]", low=0)


def _measures(sec: Mapping[str, Any], where: str) -> None:
    check_keys(sec, where, ("pairs",), ("description",))
    if "description" in sec:
        _string(sec["description"], f"{where}['description']")
    for i, pair in enumerate(_list(sec["pairs"], f"{where}['pairs']")):
        at = f"{where}['pairs'][{i}]"
        check_keys(as_mapping(pair, at), at, ("a", "b", "values"), ())
        _string(pair["a"], f"{at}['a']")
        _string(pair["b"], f"{at}['b']")
        for name, v in as_mapping(pair["values"], f"{at}['values']").items():
            _registered(name, f"{at}['values']")
            if v is not None:  # null: not computed (e.g. CCA where n <= d)
                _number(v, f"{at}['values'][{name!r}]")


_CHECKS = {
    "zoo": _zoo,
    "equivalence": _equivalence,
    "tensorsim": _tensorsim,
    "identifiability": _identifiability,
    "measures": _measures,
}


def count_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The count columns of identifiability rows, in order of first appearance."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update((k, None) for k in row if k not in ID_KEYS)
    return list(keys)


def _curves(value: Any, where: str, *, length: int | None, need_steps: bool) -> None:
    curves = as_mapping(value, where)
    if need_steps:
        check_keys(curves, where, ("steps",), tuple(curves))
        length = len(as_vector(curves["steps"], f"{where}['steps']"))
    for name, values in curves.items():
        as_vector(values, f"{where}[{name!r}]", length)


def _records(value: Any, where: str) -> list[Mapping[str, Any]]:
    rows = [as_mapping(r, f"{where}[{i}]") for i, r in enumerate(_list(value, where))]
    if not rows:
        raise ValueError(f"{where}: expected at least one row, found none")
    return rows


def _registered(name: str, where: str) -> None:
    from mechequiv import measures

    if name not in measures.names():
        raise ValueError(
            f"{where}: {name!r} is not a registered measure; known: {', '.join(measures.names())}"
        )


def _in_range(mat: np.ndarray, where: str, low: float, high: float) -> None:
    bad = ~np.isnan(mat) & ((mat < low) | (mat > high))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}: expected values in [{low}, {high}], found {mat[i, j]:.4g} at ({i}, {j})"
        )


def _list(value: Any, where: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{where}: expected a list, found {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected a string, found {type(value).__name__}")
    return value


def _number(value: Any, where: str, low: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{where}: expected a number, found {type(value).__name__} {value!r}")
    if not np.isfinite(value) or (low is not None and value < low):
        bound = f" >= {low}" if low is not None else ""
        raise ValueError(f"{where}: expected a finite number{bound}, found {value}")
    return float(value)


def _integer(value: Any, where: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{where}: expected an integer, found {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{where}: expected an integer >= {low}, found {value}")
    return int(value)
