"""The one error the kernel bridge raises for the user's mistakes and the sidecar's refusals."""

from __future__ import annotations


class CusprunError(Exception):
    """A refusal with a one-line message fit to show the user as it is."""

    def __init__(self, message: str, code: str = "error", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines in place of a traceback: a refusal is the user's to fix, not
        # a bug, and its one line says how.
        return [f"cusprun: {self}"]
