"""The grokking and backdoor reproductions (tiny settings; the claim check is marked slow)."""

from __future__ import annotations

import json

import matplotlib.figure
import numpy as np
import pytest

from mechequiv.tensorsim.experiments import backdoor, grokking
from mechequiv.tensorsim.training import blob_images, modular_addition, stamp_trigger


def test_grokking_runs_and_reports(tmp_path):
    r = grokking(dict(p=11, steps=200, n_checkpoints=8, n_phases=3), progress=False)
    n = len(r.steps)
    assert r.tensor.matrix.shape == (n, n) and len(r.boundaries) == 2
    assert r.phase_means.shape == (3, 3)
    assert r.train_acc[-1] > r.train_acc[0]
    assert set(r.baselines) == {"weight_cosine", "logit_cosine", "cka", "agreement"}
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["phase_start_steps"] == [r.steps[b] for b in r.boundaries]
    assert isinstance(r.plot(tmp_path / "g.png"), matplotlib.figure.Figure)
    assert "GrokkingResult(p=11" in repr(r)
    assert json.dumps(r.summary(), allow_nan=False)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="setting must be one of"):
        grokking("huge")
    with pytest.raises(ValueError, match=r"unknown setting fields \['P'\]"):
        grokking({"P": 5})
    with pytest.raises(TypeError, match="setting must be a name or a dict"):
        backdoor(3)


def test_data_generators():
    x, y, tr, te = modular_addition(7, 0.5, seed=0)
    assert x.shape == (49, 14) and (x.sum(1) == 2).all() and len(tr) + len(te) == 49
    assert int(y[3 * 7 + 5]) == (3 + 5) % 7
    assert len(set(tr.tolist()) & set(te.tolist())) == 0
    a, b = blob_images(20, side=8, seed=1, split=0), blob_images(20, side=8, seed=1, split=1)
    assert a.x.shape == (20, 64) and float(a.x.min()) >= 0 and float(a.x.max()) <= 1
    assert not np.allclose(a.x.numpy(), b.x.numpy())
    np.testing.assert_array_equal(blob_images(20, side=8, seed=1).x, a.x)
    s = stamp_trigger(a.x, 8).reshape(-1, 8, 8)
    assert (s[:, 0, 5:] == np.array([0, 1, 0])).all()
    with pytest.raises(ValueError, match="train_fraction"):
        modular_addition(7, 1.0, seed=0)


@pytest.mark.slow
def test_backdoor_moves_the_poisoned_slice_most(tmp_path):
    r = backdoor(
        dict(
            side=10,
            n_train=2000,
            n_test=500,
            clean_steps=800,
            poison_steps=300,
            checkpoint_every=100,
        ),
        progress=False,
    )
    t = r.setting["target"]
    assert r.attack_success[r.clean_index] < 0.2 < 0.8 < r.attack_success[-1]
    assert r.slice_shift[t] > 2 * np.delete(r.slice_shift, t).max()
    assert r.slice_delta[t] == np.max(r.slice_delta)
    assert set(r.delta) == {"tensor", "weight_cosine", "logit_cosine", "cka", "agreement"}
    json.dumps(r.to_dict(), allow_nan=False)
    assert r.summary()["slice_shift"][t] == pytest.approx(r.slice_shift[t], abs=1e-3)
    assert isinstance(r.plot(tmp_path / "b.png"), matplotlib.figure.Figure)


def test_jump_offset_and_target_rank():
    from mechequiv.tensorsim.experiments import jump_offset, target_rank

    assert jump_offset((3, 8, 12), 8) == 0
    assert jump_offset((3, 8, 12), 10) == -2  # nearest boundary two checkpoints before
    assert jump_offset((3, 8, 12), 11) == 1
    assert jump_offset((4, 8), 6) == -2  # a tie goes to the earlier boundary
    assert jump_offset((3,), None) is None and jump_offset((), 4) is None
    shift = np.array([0.1, np.nan, 0.5, 0.3])
    assert target_rank(shift, 2) == 1 and target_rank(shift, 3) == 2
    assert target_rank(shift, 1) == 4  # a nan slice ranks last
