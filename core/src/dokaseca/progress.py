"""Progress from inside a provider's hook, to whatever the command shows.

Long operations (an Azure deployment, a GCP operation, a vCenter task) are
awaited inside ``prepare_infrastructure``; the hook has no progress argument,
so the core sets a reporter for the cluster being worked on and the provider
calls :func:`report`::

    from dokaseca.progress import report
    report("waiting for resource group rg-dev (12 s)")

The reporter belongs to the calling thread's context, so clusters prepared
side by side each report under their own name. Outside a command, ``report``
does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

_reporter: contextvars.ContextVar[Callable[[str], None]] = contextvars.ContextVar("dokaseca_progress", default=lambda what: None)


def report(what: str) -> None:
    """Tell the user what is happening now (one short line, no credentials)."""
    _reporter.get()(what)


@contextlib.contextmanager
def reporting(reporter: Callable[[str], None]) -> Iterator[None]:
    """Send :func:`report` calls made inside the block to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
