"""``Closing``: ``with obj: ...`` calls ``obj.close()`` on the way out (runtimes, detectors, streams)."""

from __future__ import annotations

from types import TracebackType
from typing import Optional, Type, TypeVar

T = TypeVar("T", bound="Closing")


class Closing:
    """Mixin for objects holding a resource released by ``close()``."""

    def close(self) -> None:
        """Release the resource (idempotent)."""

    def __enter__(self: T) -> T:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
