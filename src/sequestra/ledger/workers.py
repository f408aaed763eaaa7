"""Worker processes that die with the process that started them.

A pool's workers (signature checks of a large append, verify, the offline auditor) hold
about 120 MB each. When their parent is killed (SIGKILL, the OOM killer) nothing tells them:
an idle worker waits on its call queue and a busy one finishes its chunk, for a minute or
more. Each worker therefore runs `watch_parent` first: a daemon thread that ends the worker
as soon as its parent process is gone (its parent pid changes: it was re-parented to init or
a subreaper).

A thread rather than Linux's PR_SET_PDEATHSIG: that signal fires when the *thread* that
started the worker ends, and a pool may start workers from a request thread (the API runs
appends in a thread pool) that ends long before the process does. Standard library only:
the offline auditor uses it.
"""

from __future__ import annotations

import os
import threading
from typing import Final

PARENT_POLL_S: Final = 0.5  # how often a worker looks at its parent; bounds how long it lingers
EXIT_PARENT_GONE: Final = 70  # EX_SOFTWARE: nobody reads it, the parent is gone


def _watch(parent_pid: int) -> None:
    stop = threading.Event()  # never set: a bounded wait between looks
    while os.getppid() == parent_pid:
        stop.wait(PARENT_POLL_S)
    os._exit(EXIT_PARENT_GONE)  # no cleanup: the work is for a process that no longer exists


def watch_parent(parent_pid: int) -> None:
    """In a worker: end this process once `parent_pid` is no longer its parent.

    `parent_pid` is the starting process's `os.getpid()`, passed in the pool's initargs (a
    parent that died before the worker ran this is seen on the first look). Precondition:
    called once per worker process, from its initializer.
    """
    if parent_pid <= 1:
        raise ValueError(f"parent_pid: expected the starting process's pid, got {parent_pid}")
    threading.Thread(target=_watch, args=(parent_pid,), name="watch-parent", daemon=True).start()
