"""Exceptions of the runtime package.

Hierarchy::

    TradepitError
    ├── SettingsError      a settings file is unreadable or invalid (CLI exit 2)
    ├── DataError          a market-data file is missing, malformed or ambiguous
    ├── CodecError         bytes that are not a valid encoded message
    ├── OrderError         an order request is malformed (raised to strategy code)
    ├── StartupError       an actor failed to start; those already started were stopped
    ├── GatewayError       the gateway cannot bind its sockets or read its CURVE keys
    ├── JournalError       the journal cannot be opened, read or trusted (CLI exit 2)
    └── ActorCrashError       a BaseException escaped an actor; wrapped so that it
                           stops only that actor, never the whole runtime
"""

from __future__ import annotations

__all__ = [
    "ActorCrashError",
    "CodecError",
    "DataError",
    "GatewayError",
    "InvalidParamsError",
    "JournalError",
    "OrderError",
    "SettingsError",
    "StartupError",
    "TradepitError",
]


class TradepitError(Exception):
    """Base of every error raised by tradepit itself."""


class SettingsError(TradepitError):
    """A settings file is invalid: names the file, the key and what was expected."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + problem)

    def __reduce__(self) -> tuple[type[SettingsError], tuple[str, str, str]]:
        # picklable across processes (sweep trials), whatever the subclass
        return type(self), (self.file, self.key, self.problem)


class InvalidParamsError(SettingsError):
    """A strategy's ``Params.validate`` (or its constructor) refused the values."""


class DataError(TradepitError):
    """A market-data file cannot be read as what it claims to be."""


class CodecError(TradepitError):
    """Bytes that do not decode to a message."""


class OrderError(TradepitError):
    """An order request that cannot be valid (raised inside strategy code)."""


class StartupError(TradepitError):
    """An actor failed to start; the runtime stopped the ones already started."""


class ActorCrashError(TradepitError):
    """A BaseException (SystemExit, KeyboardInterrupt...) escaped an actor."""


class GatewayError(TradepitError):
    """The gateway cannot start: a socket cannot be bound, or a CURVE key file is bad.

    The message names the endpoint or the file and the reason.
    """


class JournalError(TradepitError):
    """The journal file cannot be opened, read or trusted: the runtime must not start
    (it would start flat by accident). Names the file and what is wrong."""
