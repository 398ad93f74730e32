"""Project-wide exception base.

Bad *values* raise :class:`ValueError`, wrong *kinds* raise :class:`TypeError`; everything else
that is specific to mechequiv derives from :class:`MechequivError`.
"""


class MechequivError(Exception):
    """Base class for mechequiv errors that are neither ValueError nor TypeError."""
