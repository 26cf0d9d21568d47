"""Automatic recovery's rules as pure values and functions: the ``Recovery`` settings, the
``RecoveryReport``, which close reasons trigger a recovery, the backoff delay and the
endpoint order of each cycle (issue 12).

Owns: validation of every ``Recovery`` setting (``TypeError``/``ValueError`` at construction,
like every parameter), :func:`is_recoverable` (the trigger classification),
:func:`backoff_delay` (full jitter) and :func:`cycle_order` (in order, shuffled once per
cycle with the endpoint just lost last, or the user's callable).

Also owns the seam between the recovery driver (``amqpbase.recovery``) and the facades, so
that the driver never touches a ``Connection``'s or ``Channel``'s privates (internals.md, "The
picture"): :class:`RecoveryHost` (what the driver may do to its connection) and
:class:`RecoverableChannel` (what it, and the connection, may do to one channel). Both are
tuples of bound methods the facade hands over, as ``ChannelHandlers`` are for the channel seam:
no public pika method is added, and nothing here is on a per-message path.

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

#: Re-subscriptions of a consumer the broker cancelled (``resubscribe_on_cancel``) when
#: ``max_cycles`` is None: each waits the cycle's backoff, so 10 cover minutes at the defaults.
RESUBSCRIBE_ATTEMPTS = 10

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


def resubscribe_attempts(recovery: Recovery) -> int:
    """How many times a consumer the broker cancelled is re-subscribed before it is given up
    (``ConsumerRecoveryFailedError``): ``max_cycles``, else :data:`RESUBSCRIBE_ATTEMPTS`."""
    return recovery.max_cycles if recovery.max_cycles is not None else RESUBSCRIBE_ATTEMPTS


Callback = Callable[[Any], Any]


class RecoverableChannel(NamedTuple):
    """What recovery may do to one channel: bound methods of the ``Channel`` (its
    ``recovery_handlers``). All run on the loop's thread."""

    #: The ``Channel`` itself, for its public pika API (``channel_number``, ``is_open``,
    #: ``add_on_close_callback``, ``close``).
    channel: Any
    #: ``suspend(reason) -> confirms_lost``: the link dropped and the connection recovers.
    #: An open or opening channel becomes CLOSED without a word: outstanding confirms fail
    #: once with ``ConfirmLostError`` (its confirms-lost callbacks), RPCs in flight are
    #: interrupted (its interrupted callbacks); its callbacks and recorded topology stay and
    #: its calls raise ``ChannelRecoveringError``. Returns how many confirms were lost. A
    #: channel that was closing is closed for good with ``reason`` instead: returns None.
    suspend: Callable[[BaseException], Optional[int]]
    #: ``reopen(on_open)``: open the next incarnation on the same number; ``on_open(channel)``
    #: on its Channel.OpenOk. Its calls still raise ``ChannelRecoveringError`` until
    #: ``release``.
    reopen: Callable[[Callback], None]
    #: ``restore_rpc(method, on_reply)``: send a synchronous request that is not recorded
    #: again (it restores a record); ``on_reply(frame)`` gets its Ok. A refusal closes the
    #: channel (its on-close callbacks).
    restore_rpc: Callable[[Any, Callback], None]
    #: ``restore_confirm(on_reply)``: Confirm.Select again; publish numbering continues.
    restore_confirm: Callable[[Callback], None]
    #: ``restore_consumer(method, on_message_callback, on_reply)``: Basic.Consume (with the
    #: original tag) whose deliveries go to ``on_message_callback``; not recorded again.
    restore_consumer: Callable[[Any, Callback, Callback], None]
    #: ``consuming(consumer_tag) -> bool``: is a consumer with this tag active now?
    consuming: Callable[[str], bool]
    #: ``release()``: the restore no longer needs the channel held: its calls work again.
    release: Callable[[], None]
    #: ``close_for_good(reason)``: the connection closes for good while the channel is
    #: suspended (or recovering): it closes with ``reason``, its on-close callbacks run once.
    close_for_good: Callable[[BaseException], None]
    #: ``consumer_lost(cancel_frame)``: a consumer could not be resumed or re-subscribed; its
    #: cancel callbacks get ``cancel_frame`` (a Basic.Cancel ``frame.Method`` whose ``error``
    #: is the ``ConsumerRecoveryFailedError``, or without ``error``: the broker's cancel of a
    #: consumer whose re-subscription ended). The recorded consumer is already forgotten.
    consumer_lost: Callable[[Any], None]


class RecoveryHost(NamedTuple):
    """What the recovery driver may do to its connection: bound methods of the
    ``Connection``, handed to the driver when recovery is enabled. The driver reads the
    connection's public ``params`` and ``recovery_random`` through ``connection``. The
    ``notify_*`` members run the user's recovery callbacks (the facade is the only code that
    calls user callbacks). All run on the loop's thread."""

    connection: Any
    #: ``call_later(delay, callback) -> handle`` / ``remove_timeout(handle)``: the adapter's
    #: timer hooks.
    call_later: Callable[[float, Callable[[], None]], Any]
    remove_timeout: Callable[[Any], None]
    #: ``suspend_channels(reason) -> confirms_lost``: the connection is recovering from now
    #: on (``recovering`` True, calls refused, channels held); every channel is suspended
    #: (``RecoverableChannel.suspend``), the closing ones closed for good.
    suspend_channels: Callable[[BaseException], int]
    #: ``start_attempt(endpoint)``: ``endpoint`` becomes ``params``; one new incarnation of
    #: the connection machine opens a stream to it. Its outcome comes back as the driver's
    #: ``link_up()`` or ``attempt_failed(error)``.
    start_attempt: Callable[[Any], None]
    #: ``suspended_channels() -> [handlers]``: the suspended channels to re-open, in number
    #: order.
    suspended_channels: Callable[[], List[RecoverableChannel]]
    #: ``channel_handlers(number) -> handlers or None``: the channel on that number.
    channel_handlers: Callable[[int], Optional[RecoverableChannel]]
    #: ``new_private_channel() -> handlers``: a channel the user never sees, on the lowest
    #: free number, registered but not opened (``handlers.reopen`` opens it).
    new_private_channel: Callable[[], RecoverableChannel]
    #: ``release_channels()``: channels may start work again (the restore is past the
    #: entities they depend on).
    release_channels: Callable[[], None]
    #: ``close_for_good(reason)``: every channel closes with ``reason``, then the on-close
    #: callbacks run, once. Only while no stream is up.
    close_for_good: Callable[[BaseException], None]
    #: ``close_after_link(reason)``: end the attempt or restore in progress (Connection.Close)
    #: and then close for good with ``reason``; at once when no stream is up.
    close_after_link: Callable[[BaseException], None]
    #: ``drop_link()``: close the stream at once, without Connection.Close (a restore step
    #: stalled: a Close could wait behind it); the loss comes back as a lost link.
    drop_link: Callable[[], None]
    notify_started: Callable[[BaseException], None]
    #: ``notify_attempt_failed(attempt, endpoint, error, next_delay)``.
    notify_attempt_failed: Callable[[int, Any, BaseException, Optional[float]], None]
    notify_failed: Callable[[BaseException], None]
    notify_queue_renamed: Callable[[str, str], None]
    #: ``notify_recovered(report)``: the connection is usable again (``recovering`` False,
    #: channels released), then the succeeded callbacks.
    notify_recovered: Callable[[RecoveryReport], None]


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


def _index_of(endpoints: List[Parameters], lost: Parameters) -> Optional[int]:
    """Where ``lost`` is among ``endpoints``: that very object, else the first endpoint with
    its host and port (the connection's own parameters need not be one of the endpoint
    objects: ``Connection(ConnectionParameters("a", 5672), recovery=Recovery(endpoints=[
    ConnectionParameters("a", 5672), ...]))`` loses node "a" all the same)."""
    for index, endpoint in enumerate(endpoints):
        if endpoint is lost:
            return index
    for index, endpoint in enumerate(endpoints):
        if endpoint.host == lost.host and endpoint.port == lost.port:
            return index
    return None


def cycle_order(
    recovery: Recovery,
    endpoints: Sequence[Parameters],
    lost: Optional[Parameters],
    shuffle: Callable[[List[Parameters]], None],
) -> List[Parameters]:
    """The endpoints to try in one cycle, in order. ``"shuffle"``: shuffled, then the one
    just lost (if among them: the same object, else the same host and port) moved last; ``"in_order"``: as given; a callable: its answer
    (which must be a non-empty sequence of parameter sets)."""
    order = recovery.endpoint_order
    if order == "in_order":
        return list(endpoints)
    if order == "shuffle":
        result = list(endpoints)
        shuffle(result)
        if lost is not None and len(result) > 1:
            index = _index_of(result, lost)
            if index is not None:
                result.append(result.pop(index))
        return result
    answer = order(tuple(endpoints), lost)
    result = list(answer) if answer is not None else []
    if not result or not all(isinstance(endpoint, Parameters) for endpoint in result):
        raise TypeError("endpoint_order callable must return a non-empty sequence of "
                        f"ConnectionParameters/URLParameters, got {answer!r}")
    return result
