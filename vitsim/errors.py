"""The error types every layer raises, and how the CLI prints them.

Every user-facing failure (a bad file, an unknown key, an impossible value) is a
:class:`VitsimError` that names *where* (the file) and *what* (the key path or field), so the
CLI can print one line and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class VitsimError(Exception):
    """A user-facing error: ``source: field: message`` on one line.

    Parameters
    ----------
    message
        What is wrong, and where useful, what is allowed.
    source
        The file (or other input, e.g. ``--sparsity``) the error is about.
    field
        The dotted key path or array field inside ``source``.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join([*parts, self.message])

    def with_source(self, source: str) -> VitsimError:
        """The same error, attributed to ``source`` when it has none yet."""
        if self.source is None:
            self.source = source
            self.args = (self.one_line(),)
        return self


class ConfigError(VitsimError):
    """One or more problems in a YAML configuration, reported all at once."""

    def __init__(self, problems: Sequence[tuple[str, str]], *, source: str | None = None):
        # problems: (key path, message) pairs; the first names the line, the count the rest.
        self.problems = tuple(problems)
        first_field, first_msg = self.problems[0] if self.problems else ("", "invalid")
        super().__init__(first_msg, source=source, field=first_field or None)

    def one_line(self) -> str:
        src = f"{self.source}: " if self.source else ""
        return "; ".join(f"{src}{f + ': ' if f else ''}{m}" for f, m in self.problems)

    def with_source(self, source: str) -> ConfigError:
        if self.source is None:
            self.source = source
            self.args = (self.one_line(),)
        return self


class MaskError(VitsimError):
    """A mask or attention-map file that cannot be used as given."""


class TraceError(VitsimError):
    """A workload-trace file that is missing, damaged or of an unknown schema."""
