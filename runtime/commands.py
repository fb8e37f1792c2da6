"""The gateway's commands: each request turned into a call on the :class:`Runtime`.

The gateway (:mod:`runtime.gateway`) has already checked the envelope, the
command name and the client's role; this module reads the arguments (with
the settings reader :class:`~runtime._tables.Table`, so an argument error
names the argument the way a settings error names a key), calls the runtime,
and turns what the runtime raises into the protocol's error codes:

=====================================  ==================
raised                                  code
=====================================  ==================
``LoadRefused``                         ``NOT_ALLOWED``
``LoadFailed``, ``StartupError``        ``LOAD_ERROR``
other ``SettingsError``, ``OrderError`` ``BAD_ARGUMENT``
``LookupError``                         ``NOT_FOUND``
``IllegalTransitionError``, duplicate   ``CONFLICT``
runtime not running, actor timeout      ``UNAVAILABLE``
=====================================  ==================

Every command runs in the gateway's command thread, one at a time, in the
order received. The reference of every command and its arguments is
``docs/protocol.md``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

import pykka

from runtime._tables import Table
from runtime.boot import RemovePolicy, Runtime
from runtime.errors import OrderError, SettingsError, StartupError
from runtime.gateway_protocol import CommandError, ErrorCode, Request, Role
from runtime.lifecycle import IllegalTransitionError
from runtime.messages import Flush, OrderType, Side, TimeInForce
from runtime.names import EVENTS
from runtime.settings import read_strategy
from runtime.strategy_loader import LoadFailed, LoadRefused, StrategyLoader

__all__ = ["RuntimeCommands"]

_Handler = Callable[[Table], Any]


def _asdict(value: Any) -> Any:
    """A dataclass as a plain dict (for results that are edited before sending)."""
    return dataclasses.asdict(value)


class RuntimeCommands:
    """Handles the gateway's requests on one runtime.

    Args:
        runtime: the runtime commanded.
        mark: the gateway's ``mark_topics``: the last event sequence number once
            every event published so far is numbered, with the last ``tseq`` of
            each topic at that number (snapshots).
        gateway_stats: the gateway's counters, as a dict (``status``).
        on_shutdown: called with a reason by ``shutdown``; it must only signal
            (the runtime is stopped by whoever owns it, after the reply is sent).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        mark: Callable[[float], tuple[int, dict[str, int]]],
        gateway_stats: Callable[[], dict[str, Any]],
        on_shutdown: Callable[[str], None],
    ) -> None:
        self._runtime = runtime
        gateway = runtime.settings.gateway
        self._loader = StrategyLoader(gateway.strategy_modules, gateway.strategy_dirs)
        self._mark = mark
        self._gateway_stats = gateway_stats
        self._on_shutdown = on_shutdown
        self._timeout = runtime.settings.runtime.shutdown_timeout_s
        self._handlers: dict[str, _Handler] = {
            "status": self._status,
            "actors": lambda t: self._done(t, self._runtime.actors()),
            "engines": lambda t: self._done(t, self._runtime.execution_status()),
            "strategies": lambda t: self._done(t, self._runtime.strategies()),
            "positions": self._positions,
            "orders": self._orders,
            "snapshot": self._snapshot,
            "add_strategy": self._add_strategy,
            "remove_strategy": self._remove_strategy,
            "restart_strategy": self._restart_strategy,
            "pause": self._pause,
            "resume": self._resume,
            "reduce": lambda t: self._runtime.reduce(self._reason(t, "reduce-only by operator")),
            "reset": lambda t: self._runtime.reset(self._reason(t, "reset by operator")),
            "halt": lambda t: self._runtime.halt(self._reason(t, "halted by operator")),
            "set_engine": self._set_engine,
            "cancel_all": self._cancel_all,
            "submit_order": self._submit_order,
            "cancel_order": self._cancel_order,
            "shutdown": self._shutdown,
        }

    def __call__(self, request: Request, role: Role) -> Any:
        """Run one request; raises :class:`CommandError` for every refusal."""
        handler = self._handlers.get(request.cmd)
        if handler is None:  # the gateway checks names; a command without a handler is a bug
            raise CommandError(ErrorCode.INTERNAL, f"command {request.cmd!r} has no handler")
        args = Table(request.cmd, "", request.args)
        try:
            return handler(args)
        except CommandError:
            raise
        except LoadRefused as exc:
            raise CommandError(ErrorCode.NOT_ALLOWED, str(exc)) from None
        except LoadFailed as exc:
            raise CommandError(ErrorCode.LOAD_ERROR, str(exc)) from None
        except StartupError as exc:
            raise CommandError(ErrorCode.LOAD_ERROR, f"{request.cmd}: {exc}") from None
        except (SettingsError, OrderError) as exc:
            raise CommandError(ErrorCode.BAD_ARGUMENT, str(exc)) from None
        except LookupError as exc:
            raise CommandError(ErrorCode.NOT_FOUND, f"{request.cmd}: {_text(exc)}") from None
        except IllegalTransitionError as exc:
            raise CommandError(ErrorCode.CONFLICT, f"{request.cmd}: {exc}") from None
        except (pykka.Timeout, pykka.ActorDeadError) as exc:
            raise CommandError(
                ErrorCode.UNAVAILABLE, f"{request.cmd}: an actor did not answer ({exc!r})"
            ) from None
        except RuntimeError as exc:
            raise CommandError(ErrorCode.UNAVAILABLE, f"{request.cmd}: {exc}") from None

    # --- argument helpers -------------------------------------------------------

    @staticmethod
    def _done(t: Table, result: Any) -> Any:
        """``result`` once the command proved to take no arguments."""
        t.done()
        return result

    @staticmethod
    def _optional(t: Table, name: str) -> str:
        """An optional string argument ("" when absent or null)."""
        if t.raw(name, None) is None:
            return ""
        return t.string(name)

    def _reason(self, t: Table, default: str) -> str:
        reason = self._optional(t, "reason") or default
        t.done()
        return reason

    # --- queries ----------------------------------------------------------------

    def _status(self, t: Table) -> dict[str, Any]:
        t.done()
        result: dict[str, Any] = _asdict(self._runtime.status())
        result["gateway"] = self._gateway_stats()
        actors = self._runtime.actors()
        result["actor_failures"] = sum(a.failures for a in actors)
        result["actor_restarts"] = sum(a.restarts for a in actors)
        return result

    def _positions(self, t: Table) -> Any:
        strategy = self._optional(t, "strategy")
        t.done()
        return self._runtime.positions(strategy)

    def _orders(self, t: Table) -> Any:
        strategy = self._optional(t, "strategy")
        open_only = t.boolean("open_only", True)
        t.done()
        return self._runtime.orders(strategy, open_only=open_only)

    def _snapshot(self, t: Table) -> dict[str, Any]:
        """State at a sequence number: every event numbered up to ``seq`` is in it.

        The event sink is flushed first, so every event an actor published
        before the snapshot started has reached the gateway and is numbered
        at most ``seq``; the state is read after, so it is at least as new.
        Events after ``seq`` may repeat a change already in the state; each
        carries absolute values (an order's status and filled quantity, a
        position), so applying them again leaves the same state.
        """
        t.done()
        runtime = self._runtime
        runtime.directory.ask(EVENTS, Flush(), timeout=self._timeout)
        seq, topics = self._mark(self._timeout)
        return {
            "seq": seq,
            "topics": topics,
            "state": runtime.state.value,
            "positions": runtime.positions(),
            "orders": runtime.orders("", open_only=True),
            "strategies": runtime.strategies(),
            "engines": runtime.execution_status(),
        }

    # --- strategies ---------------------------------------------------------------

    def _add_strategy(self, t: Table) -> Any:
        settings = self._runtime.settings
        config = read_strategy(
            t,
            feed=settings.feed,
            global_risk=settings.risk,
            supervision=settings.supervision,
            load=self._load,
        )
        try:
            return self._runtime.add_strategy(config)
        except ValueError as exc:  # a live strategy has this id
            raise CommandError(ErrorCode.CONFLICT, f"add_strategy: {exc}") from None

    def _load(self, t: Table, class_path: str) -> type[Any]:
        """The loader's answer, in a thread of its own with a deadline: a module that
        blocks while it is imported must not take the command channel with it."""
        answer: list[type[Any] | BaseException] = []

        def load() -> None:
            try:
                answer.append(self._loader.load(t, class_path))
            except BaseException as exc:
                answer.append(exc)

        # A daemon: an import stuck for good cannot keep the process from exiting.
        thread = threading.Thread(target=load, name="strategy-import", daemon=True)
        thread.start()
        thread.join(self._timeout)
        if not answer:
            raise LoadFailed(
                t.file,
                t.key("class"),
                f"importing {class_path!r} did not finish within {self._timeout:g}s "
                "(the module blocks while it is imported); nothing was started",
            )
        result = answer[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _remove_strategy(self, t: Table) -> Any:
        strategy_id = t.string("id")
        policy = RemovePolicy(
            t.string("policy", RemovePolicy.CANCEL.value, choices=[p.value for p in RemovePolicy])
        )
        t.done()
        return self._runtime.remove_strategy(strategy_id, policy)

    def _restart_strategy(self, t: Table) -> Any:
        strategy_id = t.string("id")
        t.done()
        return self._runtime.restart_strategy(strategy_id)

    def _pause(self, t: Table) -> Any:
        strategy = self._optional(t, "strategy")
        if strategy:
            reason = self._reason(t, "paused by operator")
            self._runtime.pause_strategy(strategy, reason)
            return {"strategy": strategy, "paused": True}
        return self._runtime.pause(self._reason(t, "paused by operator"))

    def _resume(self, t: Table) -> Any:
        strategy = self._optional(t, "strategy")
        if strategy:
            reason = self._reason(t, "resumed by operator")
            self._runtime.resume_strategy(strategy, reason)
            return {"strategy": strategy, "paused": False}
        return self._runtime.resume(self._reason(t, "resumed by operator"))

    # --- execution and orders -------------------------------------------------------

    def _set_engine(self, t: Table) -> Any:
        engine = t.raw("engine")
        if not isinstance(engine, str):
            raise t.error("engine", f"expected an engine name or '' (automatic), got {engine!r}")
        t.done()
        try:
            return self._runtime.pin_engine(engine)
        except ValueError as exc:
            raise CommandError(ErrorCode.NOT_FOUND, f"set_engine: {exc}") from None

    def _cancel_all(self, t: Table) -> Any:
        strategy = self._optional(t, "strategy")
        t.done()
        return {"cancelled": self._runtime.cancel_all(strategy)}

    def _submit_order(self, t: Table) -> Any:
        symbol = t.string("symbol")
        side = _enum(t, "side", Side, None)
        quantity = t.number("quantity", positive=True)
        order_type = _enum(t, "type", OrderType, OrderType.MARKET)
        limit_price = t.number("limit_price", positive=True) if t.has("limit_price") else None
        stop_price = t.number("stop_price", positive=True) if t.has("stop_price") else None
        time_in_force = _enum(t, "time_in_force", TimeInForce, TimeInForce.DAY)
        strategy = self._optional(t, "strategy") or "manual"
        t.done()
        try:
            client_order_id = self._runtime.submit_order(
                symbol=symbol,
                side=side,
                quantity=quantity,
                order_type=order_type,
                limit_price=limit_price,
                stop_price=stop_price,
                time_in_force=time_in_force,
                strategy_id=strategy,
            )
        except ValueError as exc:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"submit_order: {exc}") from None
        return {"client_order_id": client_order_id}

    def _cancel_order(self, t: Table) -> Any:
        client_order_id = t.string("client_order_id")
        t.done()
        self._runtime.cancel_order(client_order_id)
        return {"client_order_id": client_order_id, "cancel": "sent"}

    def _shutdown(self, t: Table) -> Any:
        reason = self._reason(t, "shutdown requested by a client")
        self._on_shutdown(reason)
        return {"stopping": True, "reason": reason}


_E = TypeVar("_E", bound=StrEnum)


def _enum(t: Table, name: str, cls: type[_E], default: _E | None) -> _E:
    """An enumeration argument, any letter case (``buy`` or ``BUY``)."""
    choices = [e.value for e in cls]
    if default is None or t.has(name):
        value = t.string(name)
        if value.upper() not in choices:
            raise t.error(name, f"expected one of {', '.join(choices)}; got {value!r}")
        return cls(value.upper())
    t.raw(name, None)
    return default


def _text(exc: BaseException) -> str:
    """A LookupError's message without the quotes ``KeyError`` adds."""
    return str(exc.args[0]) if len(exc.args) == 1 else str(exc)
