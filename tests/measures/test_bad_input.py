"""Bad input gets a clear error naming the problem, never a silent number."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mechequiv import measures as M

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 4))
Y = RNG.normal(size=(30, 3))


@pytest.mark.parametrize("name", M.names())
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(name, bad):
    Xb = X.copy()
    Xb[3, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        M.get(name)(Xb, X)


@pytest.mark.parametrize("name", M.names(functional=False))
def test_mismatched_sample_counts(name):
    with pytest.raises(ValueError, match="same number of samples"):
        M.get(name)(X, Y[:-1])


@pytest.mark.parametrize("name", M.names(functional=False))
def test_one_d_and_three_d_inputs_need_a_stated_shape(name):
    with pytest.raises(ValueError, match="2-D"):
        M.get(name)(X[:, 0], Y[:, 0])
    with pytest.raises(ValueError, match="token policy"):
        M.get(name)(X.reshape(30, 2, 2), X.reshape(30, 2, 2))


@pytest.mark.parametrize("name", [n for n in M.names(functional=False) if n != "rsa"])
def test_zero_variance_representation(name):
    const = np.ones((30, 3))
    with pytest.raises(ValueError, match=r"zero variance|constant|undefined|all entries equal"):
        M.get(name)(X, const)


def test_rsa_constant_rows_and_rdms():
    with pytest.raises(ValueError, match="constant across features"):
        M.rsa(np.ones((10, 3)), X[:10])
    with pytest.raises(ValueError, match="all off-diagonal entries equal"):
        M.rsa(np.eye(10), X[:10], rdm_kind="euclidean")


@pytest.mark.parametrize(
    ("fn", "n", "match"),
    [
        (M.debiased_cka, 3, "at least 4 samples"),
        (M.linear_cka, 1, "at least 2 samples"),
        (M.rsa, 2, "at least 3 samples"),
        (M.cca, 4, "more samples than features"),
        (M.knn_jaccard, 5, "at least k \\+ 1"),
        (M.linear_regression_similarity, 9, "at least 10 samples"),
    ],
)
def test_too_few_samples(fn, n, match):
    with pytest.raises(ValueError, match=match):
        fn(X[:n], Y[:n])


def test_wrong_kinds():
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        M.linear_cka([[1.0, 2.0]], [[1.0, 2.0]])
    with pytest.raises(TypeError, match="real-valued"):
        M.linear_cka(torch.ones(5, 2, dtype=torch.complex64), X[:5])
    with pytest.raises(TypeError, match="numeric"):
        M.linear_cka(np.array([["a"]] * 5), X[:5])


def test_bad_options():
    with pytest.raises(ValueError, match="statistic"):
        M.cca(X, Y, statistic="median")
    with pytest.raises(ValueError, match="bandwidth"):
        M.rbf_cka(X, Y, bandwidth=0)
    with pytest.raises(ValueError, match="alpha"):
        M.procrustes(X, Y, alpha=1.5)
    with pytest.raises(ValueError, match="rdm"):
        M.rsa(X, Y, rdm_kind="mahalanobis")
    with pytest.raises(ValueError, match="variance_kept"):
        M.svcca(X, Y, variance_kept=0)
    with pytest.raises(TypeError, match="k must be an int"):
        M.knn_jaccard(X, Y, k=2.5)
    with pytest.raises(ValueError, match="probability rows"):
        M.jensen_shannon(X, X, inputs="probs")
    with pytest.raises(KeyError, match="did you mean linear_cka"):
        M.get("linear_ckaa")


def test_functional_shape_checks():
    with pytest.raises(ValueError, match="same number of classes"):
        M.jensen_shannon(X, Y)
    with pytest.raises(ValueError, match="integer class labels"):
        M.prediction_agreement(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="logits are all equal"):
        M.logit_cosine(np.ones((4, 3)), X[:4, :3])


def test_unconverged_bounded_map_raises():
    from mechequiv.errors import MechequivError

    A = RNG.normal(size=(60, 8)) * np.logspace(0, 2, 8)
    B = A @ RNG.normal(size=(8, 8))
    with pytest.raises(MechequivError, match="did not reach"):
        M.bounded_map_error(A, B, tol=1e-15, max_iter=20)


def test_negative_debiased_cka_is_reported_not_clipped():
    rng = np.random.default_rng(1)
    values = [M.debiased_cka(rng.normal(size=(8, 3)), rng.normal(size=(8, 3))) for _ in range(40)]
    assert min(values) < 0
