"""Peak memory a piece of code adds, measured in a fresh subprocess.

The child runs ``setup`` (building inputs), resets the kernel's peak-RSS counter to the current
RSS (``/proc/self/clear_refs``; falls back to ru_maxrss where that is refused), runs ``measure``
and prints the peak RSS added, in bytes, then whatever ``measure`` printed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

_HARNESS = """
import resource
def _status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    _before, _peak = _status("VmRSS:"), lambda: _status("VmHWM:")
except OSError:
    _before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""


def added_peak_rss(setup: str, measure: str, argv: list[str]) -> tuple[int, str]:
    """(added peak RSS in bytes, the measure's printed output) for code run in a subprocess."""
    code = "\n".join(
        [
            textwrap.dedent(setup),
            _HARNESS,
            "import io, contextlib",
            "_out = io.StringIO()",
            "with contextlib.redirect_stdout(_out):",
            textwrap.indent(textwrap.dedent(measure), "    "),
            "print(_peak() - _before)",
            "print(_out.getvalue(), end='')",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    ).stdout
    first, _, rest = out.partition("\n")
    return int(first), rest.strip()
