"""Automatic recovery's rules as pure values and functions: the ``Recovery`` settings, the
``RecoveryReport``, which close reasons trigger a recovery, the backoff delay and the
endpoint order of each cycle (issue 12).

Owns: validation of every ``Recovery`` setting (``TypeError``/``ValueError`` at construction,
like every parameter), :func:`is_recoverable` (the trigger classification),
:func:`backoff_delay` (full jitter) and :func:`cycle_order` (in order, shuffled once per
cycle with the endpoint just lost last, or the user's callable).

Must not: read a clock, hold a timer, touch a connection or draw randomness of its own: the
caller passes ``uniform``/``shuffle`` (the facade owns the clock and the random source, so
tests drive both).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple

from amqpbase import exceptions, spec
from amqpbase.parameters import Parameters

#: Entity kinds ``topology=`` may name (channels and their QoS/confirm/tx modes are always
#: restored: a channel without its modes would silently change meaning).
TOPOLOGY_KINDS: FrozenSet[str] = frozenset({"exchanges", "queues", "bindings", "consumers"})

ENDPOINT_ORDERS = ("in_order", "shuffle")
ENTITY_FAILURE_POLICIES = ("skip", "fail")

EndpointOrder = Callable[[Sequence[Parameters], Optional[Parameters]], Sequence[Parameters]]

#: Broker Connection.Close codes that trigger a recovery: 320 CONNECTION_FORCED (a node
#: shutting down, ``rabbitmqctl close_connection``). 403 ACCESS_REFUSED, 530 NOT_ALLOWED and
#: the framing errors 501-505 never do: a new link would get the same answer.
RECOVER_ON_BROKER_CODES = frozenset({spec.CONNECTION_FORCED})

#: Attempt errors that end a recovery at once: the broker refused the login or the vhost.
DEFINITIVE_ATTEMPT_ERRORS: Tuple[type, ...] = (
    exceptions.ProbableAuthenticationError,
    exceptions.ProbableAccessDeniedError,
    exceptions.AuthenticationError,
)


def _number(value: Any, name: str, minimum: float, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if math.isnan(value) or math.isinf(value) or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return float(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


class Recovery:
    """Automatic connection and topology recovery settings (pass as ``recovery=`` to any
    connection class or to ``create_connection``). Validated at construction.

    ``endpoints``: the parameter sets to reconnect to, each with its own credentials and TLS
    (None: the connection's own parameters). ``endpoint_order``: ``"shuffle"`` (once per
    cycle, the endpoint just lost last), ``"in_order"``, or a callable ``(endpoints, lost) ->
    list``. The delay before cycle n (0, 1, ...) is full jitter:
    ``uniform(0, min(max_delay, initial_delay * multiplier**n))``. ``max_cycles`` /
    ``give_up_after`` (seconds from the loss) end it with ``RecoveryFailedError``.
    ``topology``: ``"all"``, ``"none"`` or a collection of ``"exchanges"``, ``"queues"``,
    ``"bindings"``, ``"consumers"``; ``topology_filter(entity) -> bool`` picks entities;
    ``on_entity_failure``: ``"skip"`` (report and go on) or ``"fail"`` (give up).
    ``restore_timeout``: a restore step (a channel re-open, an entity, a consumer) that gets no
    answer within it fails the attempt: the link is dropped and the next endpoint tried (None:
    wait as long as the broker takes).
    ``should_recover(reason) -> bool`` overrides the trigger classification (never for a
    client close). ``initial_connect``: the first open is retried the same way.
    """

    __slots__ = (
        "endpoints", "endpoint_order", "initial_delay", "multiplier", "max_delay",
        "max_cycles", "give_up_after", "topology", "topology_filter", "entity_retry_timeout",
        "on_entity_failure", "recover_consumers", "resubscribe_on_cancel", "should_recover",
        "initial_connect", "restore_timeout",
    )

    def __init__(
        self,
        endpoints: Optional[Sequence[Parameters]] = None,
        endpoint_order: Any = "shuffle",
        initial_delay: float = 1.0,
        multiplier: float = 2.0,
        max_delay: float = 30.0,
        max_cycles: Optional[int] = None,
        give_up_after: Optional[float] = None,
        topology: Any = "all",
        topology_filter: Optional[Callable[[Any], bool]] = None,
        entity_retry_timeout: float = 30.0,
        on_entity_failure: str = "skip",
        recover_consumers: bool = True,
        resubscribe_on_cancel: bool = False,
        should_recover: Optional[Callable[[BaseException], bool]] = None,
        initial_connect: bool = False,
        restore_timeout: Optional[float] = 30.0,
    ) -> None:
        if endpoints is not None:
            if isinstance(endpoints, (str, bytes, Parameters)) or not hasattr(
                endpoints, "__iter__"
            ):
                raise TypeError("endpoints must be a sequence of ConnectionParameters or "
                                f"URLParameters, got {type(endpoints).__name__}")
            endpoints = tuple(endpoints)
            if not endpoints:
                raise ValueError("endpoints must not be empty (None: the connection's own)")
            for index, endpoint in enumerate(endpoints):
                if not isinstance(endpoint, Parameters):
                    raise TypeError(f"endpoints[{index}] must be a ConnectionParameters or "
                                    f"URLParameters, got {type(endpoint).__name__}")
        self.endpoints: Optional[Tuple[Parameters, ...]] = endpoints
        if isinstance(endpoint_order, str):
            if endpoint_order not in ENDPOINT_ORDERS:
                raise ValueError(f"endpoint_order must be one of {ENDPOINT_ORDERS} or a "
                                 f"callable, got {endpoint_order!r}")
        elif not callable(endpoint_order):
            raise TypeError("endpoint_order must be 'shuffle', 'in_order' or a callable, got "
                            f"{type(endpoint_order).__name__}")
        self.endpoint_order: Any = endpoint_order
        self.initial_delay = _number(initial_delay, "initial_delay", 0.0)
        self.multiplier = _number(multiplier, "multiplier", 1.0)
        self.max_delay = _number(max_delay, "max_delay", 0.0)
        if max_cycles is not None:
            if isinstance(max_cycles, bool) or not isinstance(max_cycles, int):
                raise TypeError(f"max_cycles must be an int or None, got "
                                f"{type(max_cycles).__name__}")
            if max_cycles < 1:
                raise ValueError(f"max_cycles must be >= 1, got {max_cycles}")
        self.max_cycles: Optional[int] = max_cycles
        self.give_up_after = _number(give_up_after, "give_up_after", 0.0, allow_none=True)
        if self.give_up_after == 0.0:
            raise ValueError("give_up_after must be > 0 (None: never)")
        if isinstance(topology, str):
            if topology == "all":
                kinds = TOPOLOGY_KINDS
            elif topology == "none":
                kinds = frozenset()
            else:
                raise ValueError("topology must be 'all', 'none' or a collection of "
                                 f"{sorted(TOPOLOGY_KINDS)}, got {topology!r}")
        elif hasattr(topology, "__iter__"):
            kinds = frozenset(topology)
            unknown = sorted(str(kind) for kind in kinds - TOPOLOGY_KINDS)
            if unknown:
                raise ValueError(f"topology names unknown kinds {unknown}; known: "
                                 f"{sorted(TOPOLOGY_KINDS)}")
        else:
            raise TypeError(f"topology must be 'all', 'none' or a collection of kinds, got "
                            f"{type(topology).__name__}")
        self.topology: FrozenSet[str] = kinds
        if topology_filter is not None and not callable(topology_filter):
            raise TypeError("topology_filter must be callable or None")
        self.topology_filter = topology_filter
        self.entity_retry_timeout = _number(entity_retry_timeout, "entity_retry_timeout", 0.0)
        if on_entity_failure not in ENTITY_FAILURE_POLICIES:
            raise ValueError(f"on_entity_failure must be one of {ENTITY_FAILURE_POLICIES}, "
                             f"got {on_entity_failure!r}")
        self.on_entity_failure = on_entity_failure
        self.recover_consumers = _flag(recover_consumers, "recover_consumers")
        self.resubscribe_on_cancel = _flag(resubscribe_on_cancel, "resubscribe_on_cancel")
        if should_recover is not None and not callable(should_recover):
            raise TypeError("should_recover must be callable or None")
        self.should_recover = should_recover
        self.initial_connect = _flag(initial_connect, "initial_connect")
        self.restore_timeout = _number(restore_timeout, "restore_timeout", 0.0, allow_none=True)
        if self.restore_timeout == 0.0:
            raise ValueError("restore_timeout must be > 0 (None: no bound)")

    def __repr__(self) -> str:
        count = len(self.endpoints) if self.endpoints is not None else 1
        return (f"Recovery(endpoints={count}, order={self.endpoint_order!r}, "
                f"initial_delay={self.initial_delay}, multiplier={self.multiplier}, "
                f"max_delay={self.max_delay}, max_cycles={self.max_cycles}, "
                f"give_up_after={self.give_up_after}, topology={sorted(self.topology)})")

    def restores(self, kind: str) -> bool:
        """True when entities of ``kind`` are recorded and restored."""
        if kind == "consumers" and not self.recover_consumers:
            return False
        return kind in self.topology


class RecoveryReport(NamedTuple):
    """What one successful recovery did (``add_on_recovery_succeeded_callback``)."""

    #: The parameters of the endpoint the connection is on now.
    endpoint: Parameters
    #: Cycles started (1: the first cycle's attempts sufficed).
    cycles: int
    #: Seconds from the loss to the end of the topology restore.
    duration: float
    #: Server-named queues re-declared under a new name: old -> new.
    renamed_queues: Dict[str, str]
    #: Entities that could not be restored (``on_entity_failure="skip"``), each with why.
    skipped: List[Tuple[Any, BaseException]]
    #: Publishes whose confirm the loss took (``ConfirmLostError``), over all channels.
    confirms_lost: int
    #: Consumers resumed (with their original tags).
    consumers_resumed: int


def is_recoverable(
    reason: BaseException, should_recover: Optional[Callable[[BaseException], bool]]
) -> bool:
    """Does losing the link with ``reason`` trigger a recovery? Stream lost, heartbeat
    timeout, socket errors and a broker Connection.Close 320 do; a client close never;
    403/530 and framing errors (501-505) do not. ``should_recover`` (if given) decides every
    case but the client close."""
    if isinstance(reason, exceptions.ConnectionClosedByClient):
        return False
    if should_recover is not None:
        return bool(should_recover(reason))
    if isinstance(reason, exceptions.ConnectionClosedByBroker):
        return reason.reply_code in RECOVER_ON_BROKER_CODES
    return isinstance(reason, (exceptions.StreamLostError, exceptions.AMQPHeartbeatTimeout,
                               OSError))


def backoff_delay(recovery: Recovery, cycle: int, uniform: Callable[[float, float], float]) -> float:
    """The delay before cycle ``cycle`` (0-based): full jitter,
    ``uniform(0, min(max_delay, initial_delay * multiplier**cycle))``."""
    assert recovery.initial_delay is not None and recovery.multiplier is not None
    assert recovery.max_delay is not None
    try:
        ceiling = recovery.initial_delay * recovery.multiplier ** cycle
    except OverflowError:
        ceiling = recovery.max_delay
    ceiling = min(recovery.max_delay, ceiling)
    if ceiling <= 0:
        return 0.0
    return float(uniform(0.0, ceiling))


def cycle_order(
    recovery: Recovery,
    endpoints: Sequence[Parameters],
    lost: Optional[Parameters],
    shuffle: Callable[[List[Parameters]], None],
) -> List[Parameters]:
    """The endpoints to try in one cycle, in order. ``"shuffle"``: shuffled, then the one
    just lost (if among them) moved last; ``"in_order"``: as given; a callable: its answer
    (which must be a non-empty sequence of parameter sets)."""
    order = recovery.endpoint_order
    if order == "in_order":
        return list(endpoints)
    if order == "shuffle":
        result = list(endpoints)
        shuffle(result)
        if lost is not None and len(result) > 1:
            for index, endpoint in enumerate(result):
                if endpoint is lost:
                    result.append(result.pop(index))
                    break
        return result
    answer = order(tuple(endpoints), lost)
    result = list(answer) if answer is not None else []
    if not result or not all(isinstance(endpoint, Parameters) for endpoint in result):
        raise TypeError("endpoint_order callable must return a non-empty sequence of "
                        f"ConnectionParameters/URLParameters, got {answer!r}")
    return result
