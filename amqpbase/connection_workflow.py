"""``create_connection``: open the first of several parameter sets that works.

Names follow ``pika.adapters.utils.connection_workflow`` so code written against pika's
workflow ports unchanged. The workflow is loop-agnostic: it builds one un-started connection
per attempt through the factory it is given and uses that connection's own timer hooks for the
pause between cycles.

Semantics: as pika's, the whole list of parameter sets is one *cycle*; the workflow runs
``connection_attempts`` cycles of the **last** set, pausing ``retry_delay`` (also from the last
set) between cycles. Unlike pika, a failure that retrying cannot change (login refused, vhost
refused, incompatible protocol) ends the workflow at once instead of trying the remaining
sets: every set of one workflow points at the same logical broker, and hammering a cluster
with known-bad credentials only trips its rate limits.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence

from amqpbase import exceptions

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
        self._pause_timer: Any = None
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
        connection = self._connection
        assert connection is not None  # there is always a current (or last) connection
        if self._pause_timer is not None:
            connection._adapter_remove_timeout(self._pause_timer)
            self._pause_timer = None
            connection._adapter_call_later(
                0, lambda: self._finish(exceptions.AMQPConnectionWorkflowAborted())
            )
        else:
            connection.close()  # reports ConnectionOpenAborted to _on_attempt_error

    def _start_cycle(self) -> None:
        self._pause_timer = None
        self._cycles_left -= 1
        self._index = 0
        self._try_current()

    def _try_current(self) -> None:
        assert self._factory is not None
        params = self._configs[self._index]
        self._connection = self._factory(params, self._on_attempt_open, self._on_attempt_error)

    def _on_attempt_open(self, connection: "Connection") -> None:
        if self._state is _WorkflowState.ACTIVE:
            self._finish(connection)
        else:  # opened just as the user aborted: close it, report the abort
            connection.close()

    def _on_attempt_error(self, connection: "Connection", error: BaseException) -> None:
        if self._state is _WorkflowState.ABORTING:
            self._finish(exceptions.AMQPConnectionWorkflowAborted())
            return
        self._errors.append(error)
        if isinstance(error, _NOT_RETRIED):
            self._finish(exceptions.AMQPConnectionWorkflowFailed(self._errors))
        elif self._index + 1 < len(self._configs):
            self._index += 1
            self._try_current()
        elif self._cycles_left > 0:
            self._pause_timer = connection._adapter_call_later(self._retry_delay, self._start_cycle)
        else:
            self._finish(exceptions.AMQPConnectionWorkflowFailed(self._errors))

    def _finish(self, result: Any) -> None:
        self._state = _WorkflowState.DONE
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            from amqpbase._callbacks import invoke

            invoke(on_done, result)
