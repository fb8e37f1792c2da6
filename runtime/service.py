"""A runtime with its ZeroMQ gateway: what ``tradepit run`` starts.

:class:`Service` puts together the three parts of issue 4: the
:class:`~runtime.boot.Runtime` (actors), the :class:`~runtime.gateway.Gateway`
(the sockets and their thread) and :class:`~runtime.commands.RuntimeCommands`
(what each command does). Without ``[gateway] enabled`` it is the runtime alone.

Order: the gateway binds first (a port in use fails the start before any
actor runs) and is handed every event from the event sink's first one; it
closes last, after the runtime's summary, so clients see the shutdown's
events and the reply to a ``shutdown`` command.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

from runtime.boot import Runtime
from runtime.commands import RuntimeCommands
from runtime.config import Settings
from runtime.gateway import Gateway
from runtime.gateway_protocol import CommandError, ErrorCode, Request, Role
from runtime.messages import Bar, Subscribe, Tick
from runtime.names import EVENTS, FEED
from runtime.summary import RunSummary

__all__ = ["Service"]


class Service:
    """One runtime and, when enabled, its gateway.

    Args:
        settings: validated settings.
        on_finished: called when the market data runs out.
        on_fatal: called with a reason when a core actor failed for good.
        on_shutdown: called with a reason when a client sent ``shutdown``;
            it must only signal whoever stops the service.
        clock, source: as for :class:`Runtime`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        on_finished: Callable[[], None] | None = None,
        on_fatal: Callable[[str], None] | None = None,
        on_shutdown: Callable[[str], None] | None = None,
        clock: Callable[[], int] = time.time_ns,
        source: Iterator[Bar | Tick] | None = None,
    ) -> None:
        self.settings = settings
        self._on_shutdown = on_shutdown
        self._commands: RuntimeCommands | None = None
        self.gateway: Gateway | None = None
        if settings.gateway.enabled:
            self.gateway = Gateway(
                settings.gateway,
                self._handle,
                name=settings.runtime.name,
                state=lambda: self.runtime.state.value,
            )
        self.runtime = Runtime(
            settings,
            stream=self.gateway.publish if self.gateway is not None else None,
            clock=clock,
            source=source,
            on_finished=on_finished,
            on_fatal=on_fatal,
        )

    def _handle(self, request: Request, role: Role) -> Any:
        if self._commands is None:
            raise CommandError(ErrorCode.UNAVAILABLE, "the runtime is still starting")
        return self._commands(request, role)

    def _shutdown(self, reason: str) -> None:
        if self._on_shutdown is None:
            raise CommandError(ErrorCode.UNAVAILABLE, "this runtime cannot be shut down remotely")
        self._on_shutdown(reason)

    def start(self) -> None:
        """Bind the gateway, start every actor, then serve commands.

        Raises ``GatewayError`` (cannot bind, bad keys) or ``StartupError``;
        whatever had started is stopped again.
        """
        gateway = self.gateway
        if gateway is not None:
            gateway.start()
        try:
            self.runtime.start()
        except BaseException:
            if gateway is not None:
                gateway.close()
            raise
        if gateway is None:
            return
        if self.settings.gateway.publish_bars:
            self.runtime.directory.tell(FEED, Subscribe(EVENTS, ("*",), 2))
        self._commands = RuntimeCommands(
            self.runtime,
            mark=gateway.mark_topics,
            gateway_stats=lambda: dataclasses.asdict(gateway.stats()),
            on_shutdown=self._shutdown,
        )

    def stop(self) -> RunSummary:
        """Stop the runtime (see :meth:`Runtime.stop`), then close the gateway."""
        try:
            return self.runtime.stop()
        finally:
            if self.gateway is not None:
                self.gateway.close()
