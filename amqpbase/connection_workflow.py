"""``create_connection``: open the first of several parameter sets that works.

Names follow ``pika.adapters.utils.connection_workflow`` (also importable from that path under
``amqpbase.adapters.utils.connection_workflow``) so code written against pika's workflow ports
unchanged. The workflow is loop-agnostic: it builds one un-started connection per attempt
through the factory it is given, and runs its own few timers (the pause between cycles, a
failed attempt's report) on the native loop it is given, whichever of the three it is.

Semantics: as pika's, the whole list of parameter sets is one *cycle*; the workflow runs
``connection_attempts`` cycles of the **last** set, pausing ``retry_delay`` (also from the last
set) between cycles. A connection class whose constructor raises for one set is that set's
failed attempt (its exception is in ``AMQPConnectionWorkflowFailed.exceptions``): the
workflow goes on to the next set, as pika's does. Unlike pika, a failure that retrying cannot
change (login refused, vhost refused, incompatible protocol) ends the workflow at once instead
of trying the remaining sets: every set of one workflow points at the same logical broker, and
hammering a cluster with known-bad credentials only trips its rate limits. It must not know
AMQP or any loop's internals; it never blocks.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence

from amqpbase import exceptions
from amqpbase.exceptions import (  # pika's module has its exceptions: import them from here
    AMQPConnectionWorkflowAborted,
    AMQPConnectionWorkflowFailed,
    AMQPConnectionWorkflowWrongState,
    AMQPConnectorAborted,
    AMQPConnectorAMQPHandshakeError,
    AMQPConnectorException,
    AMQPConnectorPhaseErrorBase,
    AMQPConnectorSocketConnectError,
    AMQPConnectorStackTimeout,
    AMQPConnectorTransportSetupError,
    AMQPConnectorWrongState,
)

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.connection import Connection
    from amqpbase.parameters import Parameters

LOGGER = logging.getLogger(__name__)

ConnectorFactory = Callable[
    ["Parameters", Callable[["Connection"], Any], Callable[["Connection", BaseException], Any]],
    "Connection",
]

_NOT_RETRIED = (
    exceptions.ProbableAuthenticationError,
    exceptions.ProbableAccessDeniedError,
    exceptions.AuthenticationError,
    exceptions.IncompatibleProtocolError,
)


class AbstractAMQPConnectionWorkflow:
    """Interface of a connection workflow (pika name)."""

    def start(
        self,
        connection_configs: Sequence["Parameters"],
        connector_factory: ConnectorFactory,
        native_loop: Any,
        on_done: Callable[[Any], Any],
    ) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _WorkflowState(Enum):
    INIT = 0
    ACTIVE = 1
    ABORTING = 2
    DONE = 3


class AMQPConnectionWorkflow(AbstractAMQPConnectionWorkflow):
    """The default workflow; ``on_done`` gets an open ``Connection``,
    ``AMQPConnectionWorkflowFailed`` (``.exceptions`` = each attempt's precise cause, in
    order) or ``AMQPConnectionWorkflowAborted``."""

    def __init__(self) -> None:
        self._state = _WorkflowState.INIT
        self._configs: Sequence["Parameters"] = ()
        self._factory: Optional[ConnectorFactory] = None
        self._on_done: Optional[Callable[[Any], Any]] = None
        self._cycles_left = 0
        self._retry_delay = 0.0
        self._index = 0
        self._connection: Optional["Connection"] = None
        self._loop: Any = None
        self._pause_timer: Optional[Callable[[], None]] = None  # cancels the pending timer
        self._errors: List[BaseException] = []

    def start(
        self,
        connection_configs: Sequence["Parameters"],
        connector_factory: ConnectorFactory,
        native_loop: Any,
        on_done: Callable[[Any], Any],
    ) -> None:
        if self._state is not _WorkflowState.INIT:
            raise exceptions.AMQPConnectionWorkflowWrongState(
                f"start() in state {self._state.name}"
            )
        configs = list(connection_configs)
        if not configs:
            raise ValueError("connection_configs is empty")
        self._configs = configs
        self._loop = native_loop
        self._factory = connector_factory
        self._on_done = on_done
        self._cycles_left = configs[-1].connection_attempts
        self._retry_delay = configs[-1].retry_delay
        self._state = _WorkflowState.ACTIVE
        self._start_cycle()

    def abort(self) -> None:
        """Stop trying; ``on_done`` gets ``AMQPConnectionWorkflowAborted`` from the loop."""
        if self._state is _WorkflowState.INIT:
            raise exceptions.AMQPConnectionWorkflowWrongState("abort() before start()")
        if self._state is not _WorkflowState.ACTIVE:
            raise exceptions.AMQPConnectionWorkflowWrongState(
                f"abort() in state {self._state.name}"
            )
        self._state = _WorkflowState.ABORTING
        if self._pause_timer is not None:  # between attempts: no connection is opening
            cancel, self._pause_timer = self._pause_timer, None
            cancel()
            self._call_later(0, lambda: self._finish(exceptions.AMQPConnectionWorkflowAborted()))
        else:
            connection = self._connection
            assert connection is not None  # an attempt is opening
            connection.close()  # reports ConnectionOpenAborted to _on_attempt_error

    def _start_cycle(self) -> None:
        self._pause_timer = None
        self._cycles_left -= 1
        self._index = 0
        self._try_current()

    def _try_current(self) -> None:
        assert self._factory is not None
        params = self._configs[self._index]
        self._connection = None
        try:
            self._connection = self._factory(
                params, self._on_attempt_open, self._on_attempt_error
            )
        except Exception as exc:  # noqa: BLE001 - pika: a factory error fails this attempt
            LOGGER.warning("Connection constructor raised for %r: %r", params, exc)
            # Reported from the loop, as every other attempt's outcome is (also when the
            # first attempt's constructor raises inside create_connection itself).
            error: BaseException = exc  # "exc" is unbound after the except block
            self._pause_timer = self._call_later(0, lambda: self._constructor_failed(error))

    def _constructor_failed(self, error: BaseException) -> None:
        self._pause_timer = None
        self._attempt_failed(error)

    def _on_attempt_open(self, connection: "Connection") -> None:
        if self._state is _WorkflowState.ACTIVE:
            self._finish(connection)
        else:  # opened just as the user aborted: close it, report the abort
            connection.close()

    def _on_attempt_error(self, connection: "Connection", error: BaseException) -> None:
        if self._state is _WorkflowState.ABORTING:
            self._finish(exceptions.AMQPConnectionWorkflowAborted())
            return
        self._attempt_failed(error)

    def _attempt_failed(self, error: BaseException) -> None:
        self._errors.append(error)
        if isinstance(error, _NOT_RETRIED):
            self._finish(exceptions.AMQPConnectionWorkflowFailed(self._errors))
        elif self._index + 1 < len(self._configs):
            self._index += 1
            self._try_current()
        elif self._cycles_left > 0:
            self._pause_timer = self._call_later(self._retry_delay, self._start_cycle)
        else:
            self._finish(exceptions.AMQPConnectionWorkflowFailed(self._errors))

    def _call_later(self, delay: float, callback: Callable[[], Any]) -> Callable[[], None]:
        """Run ``callback`` on the workflow's native loop after ``delay`` s; returns a function
        that cancels it (a no-op once it ran). The three native loop kinds: Twisted's reactor
        (``callLater``), the select and Tornado ``IOLoop`` (``call_later`` +
        ``remove_timeout``), an asyncio loop (``call_later`` -> handle ``cancel``)."""
        loop = self._loop
        call_later = getattr(loop, "callLater", None)
        if call_later is not None:
            delayed = call_later(max(0.0, delay), callback)

            def cancel_delayed() -> None:
                if delayed.active():
                    delayed.cancel()

            return cancel_delayed
        handle = loop.call_later(delay, callback)
        remove_timeout = getattr(loop, "remove_timeout", None)
        if remove_timeout is not None:
            return lambda: remove_timeout(handle)
        cancel: Callable[[], None] = handle.cancel
        return cancel

    def _finish(self, result: Any) -> None:
        self._state = _WorkflowState.DONE
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            from amqpbase._callbacks import invoke

            invoke(on_done, result)


__all__ = [
    "AMQPConnectionWorkflow",
    "AMQPConnectionWorkflowAborted",
    "AMQPConnectionWorkflowFailed",
    "AMQPConnectionWorkflowWrongState",
    "AMQPConnectorAMQPHandshakeError",
    "AMQPConnectorAborted",
    "AMQPConnectorException",
    "AMQPConnectorPhaseErrorBase",
    "AMQPConnectorSocketConnectError",
    "AMQPConnectorStackTimeout",
    "AMQPConnectorTransportSetupError",
    "AMQPConnectorWrongState",
    "AbstractAMQPConnectionWorkflow",
]
