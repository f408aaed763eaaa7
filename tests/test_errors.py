"""One error hierarchy, mapped once at each edge: every error Sequestra raises is a
SequestraError of one branch; the same kind of failure exits with the same code from every
command and answers the same status from every endpoint."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import sequestra
from sequestra.errors import (
    BRANCHES,
    EXIT_CODES,
    EXIT_INTERNAL,
    HTTP_STATUS,
    SequestraError,
    branch_of,
    exit_code,
)
from sequestra.ledger.errors import AppendForbidden, AppendRefused

# Every module of the package is imported (Alembic's migration scripts excepted: they run
# only inside Alembic).
SKIPPED_MODULES = frozenset({"sequestra.cli.__main__"})  # runs the command when imported


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(sequestra.__path__, "sequestra."):
        if info.name in SKIPPED_MODULES or ".migrations" in info.name:
            continue
        names.append(info.name)
    return names


def _error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    return list(found.values())


def test_every_error_is_in_one_branch_of_the_hierarchy() -> None:
    classes = _error_classes()
    assert len(classes) > 80  # every layer's errors were found
    outside = [c.__qualname__ for c in classes if not issubclass(c, SequestraError)]
    assert outside == []
    for cls in classes:
        subclasses = [c for c in classes if c is not cls and issubclass(c, cls)]
        branch = cls.branch  # type: ignore[attr-defined]
        if branch not in EXIT_CODES:
            # Only an abstract base has no branch of its own; its subclasses each have one.
            assert subclasses, f"{cls.__module__}.{cls.__qualname__} has no branch"
            continue
        (branch_class,) = [b for b in BRANCHES if b.branch == branch]
        assert issubclass(cls, branch_class), f"{cls.__qualname__} is not a {branch_class}"


def test_each_branch_has_one_exit_code_and_one_status() -> None:
    assert set(EXIT_CODES) == set(HTTP_STATUS) == {b.branch for b in BRANCHES}
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    assert EXIT_INTERNAL not in EXIT_CODES.values() and 0 not in EXIT_CODES.values()
    assert exit_code(ValueError("a defect")) == EXIT_INTERNAL
    # A refused append keeps the branch of its cause.
    assert branch_of(AppendRefused("bad body")) == "input_refused"
    assert branch_of(AppendForbidden("not enrolled")) == "forbidden"
    assert isinstance(AppendForbidden("x"), AppendRefused)
