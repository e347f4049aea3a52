"""Every user-facing failure is a PbxopsError; the CLI prints its message, no traceback."""

from __future__ import annotations

from dataclasses import dataclass


class PbxopsError(Exception):
    """Base of all errors a user can cause or fix. ``exit_code`` is the CLI's exit status."""

    exit_code = 1


class ConfigError(PbxopsError):
    """Settings or environment are wrong (missing file, bad URL, missing tool)."""

    exit_code = 2


@dataclass(frozen=True)
class BookIssue:
    """One finding in the contract book: where it is and what is wrong."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class BookError(PbxopsError):
    """The contract book is invalid; carries every finding at once."""

    exit_code = 3

    def __init__(self, issues: list[BookIssue]) -> None:
        self.issues = list(issues)
        n = len(self.issues)
        head = f"contract book has {n} error{'s' if n != 1 else ''}"
        super().__init__(head + ":\n" + "\n".join(f"  {i}" for i in self.issues))


class NotFoundError(PbxopsError):
    """A named customer, host, release, plan, ... does not exist."""

    exit_code = 4


class RefusedError(PbxopsError):
    """The request is understood but not allowed (no contract, lock held, ...)."""

    exit_code = 5


class HostError(PbxopsError):
    """A host could not be reached or an operation on it failed."""

    exit_code = 6


class LabError(PbxopsError):
    """The local test lab could not be built, started or stopped."""

    exit_code = 7


class TicketSystemError(PbxopsError):
    """The ticket system (Request Tracker) is unreachable, too slow, or refused a request;
    what pbxops meant to do there waits in the ledger's outbox for `pbxops tickets sync`."""

    exit_code = 8
