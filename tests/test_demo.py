"""The demo trains real networks and the measures tell the same-task pair from the other."""

from __future__ import annotations

from mechequiv.demo import demo_table_rows, run_demo


def test_demo_separates_same_task_from_other_task():
    result = run_demo(n_train=600, n_eval=300)
    assert min(result.accuracies.values()) > 0.85
    for name in (
        "linear_cka",
        "debiased_cka",
        "procrustes",
        "repr_distance",
        "prediction_agreement",
    ):
        kind_is_sim = name not in ("procrustes", "repr_distance")
        same, other = result.same_task[name], result.different_task[name]
        assert (same > other) if kind_is_sim else (same < other), name
    rows = demo_table_rows(result)
    assert len(rows) == len(result.same_task)
