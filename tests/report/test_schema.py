"""The results schema: the example validates, and every kind of bad input is refused clearly."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from mechequiv.report.validate import count_keys
from mechequiv.study.registry import SECTIONS
from mechequiv.study.report import META, validate_results


def test_example_is_valid_and_json_safe(results) -> None:
    validate_results(results)
    validate_results(json.loads(json.dumps(results, allow_nan=False)))
    assert set(results) == {*META, *SECTIONS}


def test_sections_are_optional_and_arrays_are_accepted(results) -> None:
    validate_results({})
    eq = dict(results["equivalence"])
    eq["score"] = np.array(eq["score"])
    eq["ci_low"] = torch.tensor(eq["ci_low"])
    eq.pop("baselines")
    validate_results({"equivalence": eq})


def test_null_marks_a_value_not_computed(results) -> None:
    eq = copy.deepcopy(results["equivalence"])
    for k in ("score", "ci_low", "ci_high"):
        eq[k][0][1] = None
    validate_results({"equivalence": eq})


def _bad(results, path, value):
    bad = copy.deepcopy(results)
    target = bad
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return bad


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "error", "match"),
    [
        (("equivalance",), {}, ValueError, r"unknown key\(s\) \['equivalance'\]"),
        (("equivalence", "scores"), [], ValueError, r"unknown key\(s\) \['scores'\]"),
        (("equivalence", "ci_low"), _DELETE, ValueError, r"missing required key\(s\) \['ci_low'\]"),
        (
            ("equivalence", "score"),
            [[0.5]],
            ValueError,
            r"\['score'\]: expected a 6x6 matrix, found 1x1",
        ),
        (("equivalence", "score"), [[0.5, 0.5], [0.5]], ValueError, "ragged"),
        (("equivalence", "score"), "0.5", TypeError, "expected a list of numbers, found str"),
        (("equivalence", "groups"), ["a"], ValueError, "expected 6 names, found 1"),
        (("equivalence", "names"), [], ValueError, "at least one model"),
        (("equivalence", "names"), [1, 2, 3, 4, 5, 6], TypeError, "expected strings, found int"),
        (("equivalence", "level"), 1.5, ValueError, r"expected a value in \(0, 1\)"),
        (("equivalence", "n"), 2.5, TypeError, "expected an integer"),
        (
            ("equivalence", "p_value"),
            [[2.0] * 6] * 6,
            ValueError,
            r"p_value'\]: expected values in",
        ),
        (
            ("equivalence", "baselines", "cka"),
            [[0.0] * 6] * 6,
            ValueError,
            "'cka' is not a registered measure",
        ),
        (
            ("equivalence", "baselines", "linear_cka"),
            [[0.0] * 5] * 6,
            ValueError,
            "expected a 6x6 matrix",
        ),
        (("tensorsim", "matrix"), [[1.0]], ValueError, r"\['matrix'\]: expected a 12x12 matrix"),
        (
            ("tensorsim", "curves", "test_accuracy"),
            [0.1],
            ValueError,
            "expected 12 values, found 1",
        ),
        (("tensorsim", "poison_step"), 3, ValueError, r"unknown key\(s\) \['poison_step'\]"),
        (("tensorsim", "backdoor", "backdoor"), {}, ValueError, r"unknown key\(s\) \['backdoor'\]"),
        (("tensorsim", "backdoor", "delta", "x"), "big", TypeError, "expected a number, found str"),
        (("tensorsim", "steps"), [], ValueError, "at least one checkpoint"),
        (("identifiability", "widths"), [2, 3], ValueError, "4 is not one of the widths"),
        (
            ("identifiability", "widths"),
            [0, 2, 3, 4],
            ValueError,
            "expected an integer >= 1, found 0",
        ),
        (("identifiability", "per_seed"), [], ValueError, "at least one row"),
        (("identifiability", "per_seed"), [{"width": 2, "seed": 0}], ValueError, "count columns"),
        (
            ("measures", "pairs", 0, "values", "linear_cka"),
            True,
            TypeError,
            "expected a number, found bool",
        ),
        (
            ("measures", "pairs", 0, "values", "nope"),
            0.5,
            ValueError,
            "'nope' is not a registered measure",
        ),
        (("measures", "pairs", 0, "c"), "x", ValueError, r"unknown key\(s\) \['c'\]"),
        (("zoo", "models"), [{"group": "Pizza"}], ValueError, "missing required key 'name'"),
        (("zoo", "curves", "pizza-0", "steps"), _DELETE, ValueError, "missing required key"),
        (
            ("zoo", "curves", "pizza-0", "train_loss"),
            [1.0],
            ValueError,
            "expected 20 values, found 1",
        ),
        (("timings", "zoo"), -1.0, ValueError, "expected a finite number >= 0.0"),
        (("timings", "zoo"), float("nan"), ValueError, "finite number"),
        (("versions", "torch"), 2.13, TypeError, "expected a string, found float"),
        (("summary",), "one finding", TypeError, "expected a list of strings"),
        (("title",), 3, TypeError, r"results\['title'\]: expected a string"),
        (("cached",), [1], TypeError, "expected strings, found int"),
        (("wall_time",), -2.0, ValueError, "expected a finite number >= 0.0"),
        (("config",), [1, 2], TypeError, r"results\['config'\]: expected a dict, found list"),
    ],
)
def test_bad_results_are_refused_with_a_message_naming_the_entry(
    results, path, value, error, match
) -> None:
    with pytest.raises(error, match=match):
        validate_results(_bad(results, path, value))


def test_scores_out_of_range_and_ci_out_of_order(results) -> None:
    bad = _bad(results, ("equivalence", "score", 0, 1), 1.5)
    with pytest.raises(ValueError, match=r"expected values in \[0.0, 1.0\], found 1.5 at \(0, 1\)"):
        validate_results(bad)
    bad = _bad(results, ("equivalence", "ci_low", 2, 3), 0.99)
    with pytest.raises(ValueError, match=r"expected ci_low <= score <= ci_high, .* at \(2, 3\)"):
        validate_results(bad)


def test_identifiability_rows_need_the_same_counts(results) -> None:
    rows = [{"width": 2, "circuits": 1}, {"width": 2, "circuits": 2, "mappings": 3}]
    assert count_keys(rows) == ["circuits", "mappings"]
    bad = {"identifiability": {"widths": [2], "per_seed": rows}}
    with pytest.raises(
        ValueError, match=r"per_seed'\]\[0\]: missing required key\(s\) \['mappings'\]"
    ):
        validate_results(bad)
    with pytest.raises(ValueError, match="expected an integer >= 0, found -1"):
        validate_results(
            {"identifiability": {"widths": [2], "per_seed": [{"width": 2, "circuits": -1}]}}
        )


def test_top_level_kinds() -> None:
    with pytest.raises(TypeError, match="results: expected a dict, found list"):
        validate_results([])
    with pytest.raises(TypeError, match=r"results\['zoo'\]: expected a dict, found str"):
        validate_results({"zoo": "models"})
