"""The one error hierarchy: every error Sequestra raises is a `SequestraError`, in one of a
few branches by what went wrong, so each edge maps it once.

| branch | what it means | CLI exit | HTTP |
|---|---|---|---|
| `IntegrityFailure` | the ledger or a proof does not verify; a fork | 1 | 409 |
| `InputRefused` | the input is wrong; nothing was written | 2 | 422 |
| `NotFound` | what was named does not exist | 3 | 404 |
| `Conflict` | the state does not allow it now (already done, wrong stage) | 4 | 409 |
| `Forbidden` | the key or caller may not do this | 5 | 403 |
| `DependencyUnavailable` | a node, venue, witness, file or database did not answer | 6 | 503 |

Anything else that escapes is a defect: the CLI exits 70 (EX_SOFTWARE), the API answers 500.
Only the standard library is used here: the offline auditor shares the hierarchy.
"""

from __future__ import annotations

from typing import ClassVar, Final


class SequestraError(Exception):
    """The root of every error Sequestra raises; `branch` names its kind of failure."""

    branch: ClassVar[str] = "error"


class IntegrityFailure(SequestraError):
    """Something does not verify: an entry, a proof, a signature over history, a fork."""

    branch = "integrity_failure"


class InputRefused(SequestraError, ValueError):
    """The input is not what was expected (the message names the field); nothing written."""

    branch = "input_refused"


class NotFound(SequestraError, LookupError):
    """The case, holding, sale, entry or file named does not exist."""

    branch = "not_found"


class Conflict(SequestraError):
    """The request is well formed but the current state does not allow it."""

    branch = "conflict"


class Forbidden(SequestraError):
    """The issuer or caller may not do this (unknown, revoked, wrong role)."""

    branch = "forbidden"


class DependencyUnavailable(SequestraError):
    """Something outside did not answer or could not be read: a node, a venue, a witness,
    the database, a file."""

    branch = "dependency_unavailable"


BRANCHES: Final[tuple[type[SequestraError], ...]] = (
    IntegrityFailure,
    InputRefused,
    NotFound,
    Conflict,
    Forbidden,
    DependencyUnavailable,
)

# The CLI's exit code of each branch: the same for every command.
EXIT_OK: Final = 0
EXIT_INTEGRITY: Final = 1
EXIT_INPUT: Final = 2  # click's own usage errors exit 2 too
EXIT_NOT_FOUND: Final = 3
EXIT_CONFLICT: Final = 4
EXIT_FORBIDDEN: Final = 5
EXIT_UNAVAILABLE: Final = 6
EXIT_INTERNAL: Final = 70  # EX_SOFTWARE: a defect, not a kind of failure
EXIT_CODES: Final[dict[str, int]] = {
    IntegrityFailure.branch: EXIT_INTEGRITY,
    InputRefused.branch: EXIT_INPUT,
    NotFound.branch: EXIT_NOT_FOUND,
    Conflict.branch: EXIT_CONFLICT,
    Forbidden.branch: EXIT_FORBIDDEN,
    DependencyUnavailable.branch: EXIT_UNAVAILABLE,
}

# The API's status of each branch.
HTTP_STATUS: Final[dict[str, int]] = {
    IntegrityFailure.branch: 409,
    InputRefused.branch: 422,
    NotFound.branch: 404,
    Conflict.branch: 409,
    Forbidden.branch: 403,
    DependencyUnavailable.branch: 503,
}


def branch_of(error: BaseException) -> str | None:
    """The branch of `error`, or None when it is not a SequestraError (a defect).

    The class's own `branch` decides, so an error that is caught as one kind (a refused
    append) can still carry the branch of its cause (a forbidden issuer).
    """
    if not isinstance(error, SequestraError) or error.branch not in EXIT_CODES:
        return None
    return error.branch


def exit_code(error: BaseException) -> int:
    """The CLI's exit code for `error` (EXIT_INTERNAL for anything outside the hierarchy)."""
    branch = branch_of(error)
    return EXIT_INTERNAL if branch is None else EXIT_CODES[branch]


class ConfigurationError(InputRefused):
    """A setting is missing or wrong (the message names it); nothing was done."""
