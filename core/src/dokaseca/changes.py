"""The list of changes a provider's prepare makes, or in a dry run would make (used by every provider)."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Optional, TypeVar

from dokaseca.once import Once

T = TypeVar("T")


class Changes:
    """Every mutating AWS call goes through :meth:`make`, so a dry run is
    exactly the real run with the calls left out."""

    def __init__(self, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self.lines: list[str] = []

    def make(self, line: str, call: Callable[..., Any], **arguments: Any) -> Optional[Any]:
        """Record ``line``; unless this is a dry run, call ``call(**arguments)`` and return its answer."""
        self.lines.append(line)
        return None if self.dry_run else call(**arguments)

    def once(self, memo: Once, key: Hashable, work: Callable[["Changes"], T]) -> T:
        """``work``'s result for ``key``, worked out once per process (and per dry-run flag).

        Only the caller that did the work reports its changes: the others changed nothing.
        """

        def make() -> tuple[T, list[str]]:
            mine = Changes(dry_run=self.dry_run)
            return work(mine), mine.lines

        (value, lines), made_here = memo.get((key, self.dry_run), make)
        if made_here:
            self.lines.extend(lines)
        return value
