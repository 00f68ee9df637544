"""Outcomes of a release, rollback or fleet run, and THE table from outcome to exit code.

Exit codes (the contract in the README): 0 done; 1 release failed and was rolled
back; 2 bad input or usage; 3 failed and NOT back on a good release; 4 lock held;
130 interrupted. A run of several clients exits with the worst of their codes.
"""

from __future__ import annotations

from collections.abc import Iterable

from cosydeploy.errors import (
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_NOT_RECOVERED,
    EXIT_OK,
    EXIT_ROLLED_BACK,
    EXIT_USAGE,
)

SUCCEEDED = "succeeded"
NOOP = "noop"
DRY_RUN = "dry_run"
SKIPPED = "skipped"
ROLLED_BACK = "rolled_back"
FAILED = "failed"
LOCKED = "locked"
ERROR = "error"  # bad input found while preparing: exit 2 (or the error's own code)
INTERRUPTED = "interrupted"

# Outcomes after which the next wave may start.
GOOD = frozenset({SUCCEEDED, NOOP, DRY_RUN})

EXIT_BY_OUTCOME = {
    SUCCEEDED: EXIT_OK,
    NOOP: EXIT_OK,
    DRY_RUN: EXIT_OK,
    SKIPPED: EXIT_OK,
    ROLLED_BACK: EXIT_ROLLED_BACK,
    ERROR: EXIT_USAGE,
    LOCKED: EXIT_LOCKED,
    FAILED: EXIT_NOT_RECOVERED,
    INTERRUPTED: EXIT_INTERRUPTED,
}

# Worst last: a client NOT back on a good release needs a person more than a held
# lock or a bad input does; an interruption trumps everything (the run did not end).
SEVERITY = (
    EXIT_OK,
    EXIT_ROLLED_BACK,
    EXIT_USAGE,
    EXIT_LOCKED,
    EXIT_NOT_RECOVERED,
    EXIT_INTERRUPTED,
)


def exit_code(outcome: str) -> int:
    """The exit code of one outcome; an unknown outcome needs a person (3)."""
    return EXIT_BY_OUTCOME.get(outcome, EXIT_NOT_RECOVERED)


def worst(codes: Iterable[int]) -> int:
    """The worst exit code (order: 0 < 1 < 2 < 4 < 3 < 130; unknown codes count as 3)."""
    result = EXIT_OK
    for code in codes:
        code = code if code in SEVERITY else EXIT_NOT_RECOVERED
        if SEVERITY.index(code) > SEVERITY.index(result):
            result = code
    return result
