"""The measures' input checks: :mod:`mechequiv.validation`, where the vocabulary lives (the
measures import it under this name; nothing is defined here)."""

from mechequiv.validation import (
    REFUSE_EXPONENT,
    SAFE_EXPONENT,
    ZERO_VARIANCE_RTOL,
    ArrayLike,
    ValidationError,
    as_float64,
    as_matrix,
    as_matrix_scaled,
    centre,
    check_choice,
    check_int,
    check_not_constant,
    check_pair,
    check_pair_scaled,
    pair_unscanned,
    safe_arccos,
    scale_exponent,
    times_power_of_two,
)

__all__ = [
    "REFUSE_EXPONENT",
    "SAFE_EXPONENT",
    "ZERO_VARIANCE_RTOL",
    "ArrayLike",
    "ValidationError",
    "as_float64",
    "as_matrix",
    "as_matrix_scaled",
    "centre",
    "check_choice",
    "check_int",
    "check_not_constant",
    "check_pair",
    "check_pair_scaled",
    "pair_unscanned",
    "safe_arccos",
    "scale_exponent",
    "times_power_of_two",
]
