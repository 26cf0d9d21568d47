"""AMQP 0-9-1 channel: the pika 1.x ``Channel`` API, a facade over the channel machine.

Owns: argument validation (same errors as pika, raised before anything is sent or any state
changes), the user's callbacks (always through :func:`amqpbase._callbacks.invoke`, or the
equivalent inline ``try`` on the delivery path), applying the machine's actions through the
:class:`~amqpbase.protocol.seams.ChannelLink`, and the data plane: ``basic_publish``,
``basic_ack``/``nack``/``reject`` (one cache lookup, one pack, one ``link.send_frames``) and
the ONE place a delivery reaches its consumer (:meth:`Channel._on_inbound`).

Must not: hold protocol state (``protocol.channel_machine`` owns every flag; this module reads
it), or touch the connection's privates (only the link and the public ``Connection`` API).

Contracts (docs/internals.md, "Channel <-> Connection"):

- The connection creates ``Channel(connection, number, on_open_callback, link=link)``; the
  channel registers its :class:`~amqpbase.protocol.seams.ChannelHandlers` with
  ``link.attach`` and the connection then calls ``open()``. A frame that breaks the protocol
  makes ``on_inbound`` raise a ``ProtocolSyntaxError`` subclass (``UnexpectedFrameError``,
  ``BodyTooLongError``, ``CommandInvalidError``, ``ChannelNotOpenError``) having changed no
  state; the connection closes itself with that ``reply_code``.
- At most one synchronous method is on the wire per channel; later ones wait in a FIFO and
  are sent in call order when the reply to the previous one arrives (AMQP 0-9-1 section
  2.3.5.2). Asynchronous methods (publish, ack, nack, reject) are never queued.
- Where pika 1.x derives ``nowait`` from ``callback is None`` (exchange_*, queue_bind/
  declare/delete/purge, basic_cancel, confirm_delivery) this class does the same.
- A method called while the channel is not OPEN raises ``ChannelWrongStateError``; while the
  channel is OPEN but the connection is not, ``ConnectionWrongStateError``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from enum import Enum
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

from amqpbase import exceptions, frame, spec
from amqpbase._callbacks import LOGGER as _CALLBACK_LOGGER
from amqpbase._callbacks import invoke, require_callable
from amqpbase._channel_args import (
    Registration,
    check_encodable,
    optional_callback,
    require_str,
    require_table,
    require_uint,
)
from amqpbase.amqp_object import Method
from amqpbase.instrument import Observer
from amqpbase.protocol.channel_machine import ChannelMachine
from amqpbase.protocol.channel_table import (
    Action,
    ChannelState,
    Closed,
    Confirmed,
    GotMessage,
    Input,
    Notified,
    Opened,
    Replied,
    Returned,
    Send,
)
from amqpbase.protocol.recovery import RecoverableChannel
from amqpbase.protocol.seams import Body, ChannelHandlers, ChannelLink
from amqpbase.protocol.topology import ConsumerRecord
from amqpbase.wire import formats, packs

if TYPE_CHECKING:  # pragma: no cover
    from amqpbase.connection import Connection

LOGGER = logging.getLogger("amqpbase.channel")

__all__ = ["Channel", "ChannelState", "ReturnedMessage"]

_Callback = Callable[..., Any]

_OPEN = ChannelState.OPEN
_DeliveryFrame = frame.Delivery
_MethodFrame = frame.Method
_BasicAck = spec.Basic.Ack
_BasicNack = spec.Basic.Nack
_Publish = spec.Basic.Publish
_UINT64_MAX = 0xFFFFFFFFFFFFFFFF
# The per-message packs, bound by assignment (a from-imported Struct's .pack costs a bound
# method object per call on CPython 3.11): see amqpbase.wire.packs for what each produces.
_pack_delivery_tag_frame = packs.pack_delivery_tag_frame
_pack_bare_publish_tail = packs.pack_bare_publish_tail
_pack_content_header_rest = packs.pack_content_header_rest
_pack_body_frame_size = packs.pack_body_frame_size
_ACK_MULTIPLE = packs.BASIC_ACK_MULTIPLE
_NACK_MULTIPLE = packs.BASIC_NACK_MULTIPLE
_NACK_REQUEUE = packs.BASIC_NACK_REQUEUE
_REJECT_REQUEUE = packs.BASIC_REJECT_REQUEUE
_FRAME_END = formats.FRAME_END
_FRAME_END_OCTET = formats.FRAME_END_OCTET
_CONTENT_HEADER_FIXED = formats.CONTENT_HEADER_FIXED
_BASIC_CLASS_ID = formats.BASIC_CLASS_ID
# Above this, a one-frame body is emitted by reference between its head and frame end
# instead of joined with them: the join's copy costs more than two more emits (the write
# queue hands every buffer to one sendmsg). The transport joins small buffers below 16 KiB
# for TLS for the same reason.
_JOINED_BODY_MAX = 16 * 1024
_PUBLISH_HEADS_MAX = 128  # (exchange, routing key, mandatory) heads cached per channel
_BasicProperties = spec.BasicProperties
_BODY_TYPES = (bytes, bytearray, memoryview)
_get_ident = threading.get_ident


class ReturnedMessage(NamedTuple):
    """A mandatory message the broker returned (Basic.Return), as
    ``UnroutableError.messages`` holds it for a ``basic_publish(on_confirm=)`` publish."""

    channel: "Channel"
    method: spec.Basic.Return
    properties: spec.BasicProperties
    body: bytes


class _DetachedLink:
    """The link of a Channel made without one (not by a connection): it can send nothing."""

    open = False
    frame_max = 0
    topology = None

    def attach(self, channel_number: int, handlers: ChannelHandlers) -> None:
        pass

    def _refuse(self, name: str) -> None:
        raise exceptions.ConnectionWrongStateError(f"cannot send {name}: channel has no link")

    def send_method(self, channel_number: int, method: Method) -> None:
        self._refuse(method.NAME)

    def send_frames(self, data: bytes, frame_count: int, name: str) -> None:
        self._refuse(name)

    def send_frame_parts(self, parts: Tuple[bytes, ...], frame_count: int, name: str) -> None:
        self._refuse(name)

    def send_content(
        self,
        channel_number: int,
        method: Method,
        properties: Optional[spec.BasicProperties],
        body: Body,
    ) -> None:
        self._refuse(method.NAME)

    def channel_closed(self, channel_number: int, closed_by_broker: bool) -> None:
        pass


class Channel:
    """One AMQP channel; method names, signatures and callback arguments follow pika 1.x.

    Completion callbacks receive the reply's :class:`amqpbase.frame.Method` (``.method``,
    ``.channel_number``) except where pika passes something else (``flow``: a bool;
    ``basic_get`` and consumers: ``(channel, method, properties, body)``).
    """

    # pika exposes the states as class attributes; ours are ChannelState members.
    CLOSED = ChannelState.CLOSED
    OPENING = ChannelState.OPENING
    OPEN = ChannelState.OPEN
    CLOSING = ChannelState.CLOSING
    CLOSE_SENT = ChannelState.CLOSE_SENT

    def __init__(
        self,
        connection: "Connection",
        channel_number: int,
        on_open_callback: Optional[_Callback],
        *,
        link: Optional[ChannelLink] = None,
    ) -> None:
        if not isinstance(channel_number, int) or isinstance(channel_number, bool):
            raise exceptions.InvalidChannelNumber(channel_number)
        optional_callback(on_open_callback, "on_open_callback")
        self.channel_number = channel_number
        #: The ``Connection`` (pika API); the channel uses it only through public names.
        self.connection = connection
        # The connection's loop thread (shared cell): calls from another thread raise.
        self._loop_thread = connection.loop_thread
        self._link: ChannelLink = link if link is not None else _DetachedLink()
        self._machine = ChannelMachine(channel_number)
        self._on_open_callback = on_open_callback
        self._on_close_callbacks: List[_Callback] = []
        self._return_callbacks: List[_Callback] = []
        # add_callback()/add_on_cancel/flow/ack-nack registrations, keyed by Method class.
        self._method_callbacks: Dict[Type[Method], List[Registration]] = {}
        # Publish hot path: (exchange, routing_key, mandatory) -> packs.encode_publish_pieces()
        # for this channel. Filled by basic_publish after a publish that took the checked
        # path, so only validated arguments get here; bounded (cleared when full).
        self._publish_heads: Dict[Tuple[str, str, bool], packs.PublishPieces] = {}
        # The constant 11-byte starts of this channel's Basic.Ack/Nack/Reject frames.
        self._ack_prefix = packs.basic_ack_prefix(channel_number)
        self._nack_prefix = packs.basic_nack_prefix(channel_number)
        self._reject_prefix = packs.basic_reject_prefix(channel_number)
        # Automatic recovery (issue 12): True from the link's loss until the channel is
        # restored; the recorded topology (the link's, None without recovery).
        self._recovering = False
        self._topology: Any = getattr(self._link, "topology", None)
        self._confirms_lost_callbacks: List[_Callback] = []
        self._interrupted_callbacks: List[_Callback] = []
        self._handlers = ChannelHandlers(
            self._on_inbound, self._on_connection_closed, self._machine.is_opening
        )
        self._recovery_handlers: Optional[RecoverableChannel] = None
        self._link.attach(channel_number, self._handlers)
        # Instrumentation (amqpbase.instrument), chosen once here: with an observer the
        # per-message methods become their observed versions (instance attributes), so a
        # channel without one runs exactly the code it ran before (no test per message).
        observer = getattr(self._link, "observer", None)
        self._observer: Any = observer
        if observer is not None:
            self._observe()

    # ----------------------------------------------------------------------------------------
    # Properties and small helpers
    # ----------------------------------------------------------------------------------------

    def __int__(self) -> int:
        return self.channel_number

    def __repr__(self) -> str:
        state = self._machine.state
        if state is ChannelState.CLOSE_SENT:
            state = ChannelState.CLOSING
        return f"<{self.__class__.__name__} number={self.channel_number} {state.name}>"

    @property
    def is_closed(self) -> bool:
        """True before ``open()`` and once the channel has closed."""
        return self._machine.state is ChannelState.CLOSED

    @property
    def is_closing(self) -> bool:
        """True while a client-initiated close is in progress."""
        state = self._machine.state
        return state is ChannelState.CLOSING or state is ChannelState.CLOSE_SENT

    @property
    def is_open(self) -> bool:
        return self._machine.state is _OPEN

    @property
    def is_opening(self) -> bool:
        return self._machine.state is ChannelState.OPENING

    @property
    def flow_active(self) -> bool:
        """Last Channel.Flow ``active`` state seen from the broker or confirmed by FlowOk."""
        return self._machine.flow_active

    @property
    def next_delivery_tag(self) -> int:
        """The delivery tag the next publish gets in confirm mode: RabbitMQ numbers a
        channel's publishes 1, 2, ... from Confirm.Select, and so does this channel, so right
        after ``basic_publish`` the message's tag is ``next_delivery_tag - 1`` (what per-publish
        confirm tracking, such as the Twisted Deferred API, matches acks against). Never
        repeats within the object's life (a re-opened channel numbers on)."""
        return self._machine.next_publish_tag

    @property
    def consumer_tags(self) -> List[str]:
        """Tags of the consumers registered on this channel (including ones being cancelled)."""
        return list(self._machine.consumers)

    @property
    def machine(self) -> ChannelMachine:
        """The channel machine that owns this channel's protocol state (read-only attribute),
        for inspection: its public attributes and queries (``state``, ``consumers``,
        ``rpc_queue``, ``unconfirmed()``, ...). Feed it nothing: an input given to it directly
        returns actions nobody applies, and the channel and the broker disagree from then on.
        """
        return self._machine

    @property
    def publish_cache_size(self) -> int:
        """How many ``(exchange, routing_key, mandatory)`` publish heads the channel holds
        ready for ``basic_publish``'s fast path (bounded: the cache starts over when full)."""
        return len(self._publish_heads)

    @property
    def callback_counts(self) -> Dict[str, int]:
        """The callbacks registered on this channel, counted by kind: ``"on_close"``,
        ``"on_return"``, and the spec name of each method class with ``add_callback``
        registrations (``"Basic.Cancel"``, ``"Channel.Flow"``, ...; one-shot ones until they
        fire). A new dict on each read, for diagnostics (a leak check, say)."""
        counts = {"on_close": len(self._on_close_callbacks),
                  "on_return": len(self._return_callbacks)}  # fmt: skip
        for method_class, registrations in self._method_callbacks.items():
            counts[method_class.NAME] = len(registrations)
        return counts

    def _raise_if_not_open(self) -> None:
        self._loop_thread.check()
        if self._recovering:
            raise exceptions.ChannelRecoveringError(
                f"channel {self.channel_number} is recovering with its connection; nothing "
                "is buffered: call again after the recovery"
            )
        self._machine.check(Input.SEND)
        if not self._link.open:
            raise exceptions.ConnectionWrongStateError("Connection is not open.")

    # ----------------------------------------------------------------------------------------
    # The data plane (internals.md rule 5): no action objects, no extra Python call per message
    # ----------------------------------------------------------------------------------------

    def _on_inbound(self, inbound: Any) -> None:
        """``ChannelHandlers.on_inbound``: one inbound frame or ``frame.Delivery``.

        The ONE place a delivery reaches its consumer: a Delivery decoded whole, or one the
        machine assembled from frames (handed back here through :meth:`_apply`); and the one
        place a publisher confirm is settled inline. Everything else, and a delivery or
        confirm that is not plainly for a live consumer on an open channel, goes to the
        machine."""
        machine = self._machine
        if type(inbound) is _DeliveryFrame:
            if machine.content_method is None and machine.state is _OPEN:
                method = inbound.method
                tag = method.consumer_tag
                consumer = machine.consumers.get(tag)
                if consumer is not None and not (machine.cancelling and tag in machine.cancelling):
                    if machine.tag_offset:
                        method.delivery_tag += machine.tag_offset
                    try:
                        consumer(self, method, inbound.properties, inbound.body)
                    except Exception:  # noqa: BLE001 - user code is isolated, as by invoke()
                        _CALLBACK_LOGGER.exception("Exception in user callback %r", consumer)
                    return
            self._apply(machine.delivery(inbound))
            return
        if (type(inbound) is _MethodFrame and machine.content_method is None
                and machine.state is _OPEN):
            kind = type(inbound.method)
            if kind is _BasicAck or kind is _BasicNack:
                # A publisher confirm is data plane too (one per message when publishing one
                # at a time): settled by the machine, then the ack/nack callbacks, no action
                # objects (the table's outcome for this pair is the same handler).
                machine.confirm(inbound)
                if machine.confirms.tokens:
                    self._settle(machine.confirms.resolve(inbound))
                self._fire(inbound)
                return
        self._apply(machine.receive(inbound))

    def basic_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        """Acknowledge delivery ``delivery_tag`` (``multiple``: all up to it; 0 + multiple:
        everything outstanding)."""
        # Hot path (consume with an ack per message): cheap exact checks first, the full
        # checks (which raise the errors) only on a miss; then the whole frame in one pack
        # (no Basic.Ack object). The checks bound every packed value, so the pack cannot fail.
        machine = self._machine
        link = self._link
        if machine.state is not _OPEN or not link.open:
            self._raise_if_not_open()
        if self._loop_thread.ident != _get_ident():
            self._loop_thread.check()
        if type(delivery_tag) is not int or not 0 <= delivery_tag <= _UINT64_MAX:
            require_uint(delivery_tag, "delivery_tag", 64)
        if machine.tag_offset:
            delivery_tag = machine.wire_delivery_tag(delivery_tag)  # stale: raises
        link.send_frames(
            _pack_delivery_tag_frame(
                self._ack_prefix, delivery_tag, _ACK_MULTIPLE if multiple else 0, _FRAME_END_OCTET
            ),
            1,
            "Basic.Ack",
        )

    def basic_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        """Negatively acknowledge (RabbitMQ extension); ``requeue=False`` dead-letters/drops."""
        bits = (_NACK_MULTIPLE if multiple else 0) | (_NACK_REQUEUE if requeue else 0)
        self._send_delivery_tag_method(self._nack_prefix, delivery_tag, bits, "Basic.Nack")

    def basic_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        """Reject one delivery."""
        bits = _REJECT_REQUEUE if requeue else 0
        self._send_delivery_tag_method(self._reject_prefix, delivery_tag, bits, "Basic.Reject")

    def _send_delivery_tag_method(
        self, prefix: bytes, delivery_tag: int, bits: int, name: str
    ) -> None:
        """Basic.Nack or Basic.Reject (``prefix`` from ``wire.packs``): checked, the tag
        translated to this incarnation's (an earlier incarnation's tag is dropped, logged by
        the machine: ``StaleDeliveryTagError``), one pack, one send. ``basic_ack`` does the same inline (hot path)."""
        self._raise_if_not_open()
        require_uint(delivery_tag, "delivery_tag", 64)
        machine = self._machine
        if machine.tag_offset:
            delivery_tag = machine.wire_delivery_tag(delivery_tag)  # stale: raises
        self._link.send_frames(
            _pack_delivery_tag_frame(prefix, delivery_tag, bits, _FRAME_END_OCTET), 1, name
        )

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Union[bytes, bytearray, memoryview, str],
        properties: Optional[spec.BasicProperties] = None,
        mandatory: bool = False,
        on_confirm: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        """Publish one message: method, header and body frames go to the transport in one
        write. ``str`` bodies are encoded UTF-8; other bodies are sent without copying. In
        confirm mode the message gets delivery tag ``next_delivery_tag`` (then incremented).

        ``on_confirm(outcome)`` (not in pika; pass it by keyword: it is not keyword-only in the
        signature only because a keyword-only default costs a dict lookup on every call,
        about 12 ns per publish on CPython 3.11) is called exactly once with the
        outcome of this publish: in confirm mode the broker's Basic.Ack method frame, or an
        exception: ``NackError`` (Basic.Nack), ``UnroutableError`` (a mandatory message the
        broker returned; ``messages`` holds its :class:`ReturnedMessage`), or the close reason
        when the channel closes first. Outside confirm mode it is called at once with None
        (the message is handed to the transport; AMQP gives no receipt). Nothing is
        registered when this call raises.
        """
        machine = self._machine
        link = self._link
        if machine.state is not _OPEN or not link.open:
            self._raise_if_not_open()
        if self._loop_thread.ident != _get_ident():
            self._loop_thread.check()  # a thread other than the loop's (allowed before it ran)
        if on_confirm is not None and not callable(on_confirm):
            require_callable(on_confirm, "on_confirm")  # raises (a builtin check first: hot)
        mandatory = True if mandatory else False
        # Hot path (internals.md rule 5): a bytes body in one frame, to an (exchange, routing
        # key, mandatory) this channel has published to before: its method frame comes from
        # the cache (filled below only after a checked publish, so a hit means the exchange
        # and routing key are valid strs) and the rest is one or two packs and one join.
        # Same bytes as encode_content_frames; properties are encoded before anything is
        # emitted, so a bad property value still raises with nothing sent.
        if type(body) is bytes and 0 < len(body) <= link.frame_max - 8:
            try:
                heads = self._publish_heads.get((exchange, routing_key, mandatory))
            except TypeError:  # unhashable: not a str; the checked path says what is wrong
                heads = None
            if heads is not None:
                body_size = len(body)
                if body_size > _JOINED_BODY_MAX:
                    data = b""
                    if self._publish_by_reference(heads, body, properties):
                        if on_confirm is not None:
                            self._expect_confirm(on_confirm, exchange, routing_key, mandatory)
                        return
                elif properties is None:
                    data = b"".join((
                        heads[1],
                        _pack_bare_publish_tail(body_size, heads[2], body_size),
                        body,
                        _FRAME_END,
                    ))
                elif type(properties) is _BasicProperties:
                    props = properties.encode()
                    data = b"".join((
                        heads[0],
                        _pack_content_header_rest(
                            _CONTENT_HEADER_FIXED + len(props), _BASIC_CLASS_ID, 0, body_size
                        ),
                        props,
                        _pack_body_frame_size(heads[3], body_size),
                        body,
                        _FRAME_END,
                    ))
                else:
                    data = b""
                if data:
                    link.send_frames(data, 3, "Basic.Publish")
                    if machine.confirming:
                        # The one machine field the data plane writes: publish numbering.
                        machine.next_publish_tag += 1
                        if on_confirm is not None:  # _expect_confirm inline (a frame less)
                            machine.confirms.expect(
                                machine.next_publish_tag - 1,
                                on_confirm,
                                (exchange, routing_key) if mandatory else None,
                            )
                    elif on_confirm is not None:
                        invoke(on_confirm, None)
                    return
        self._publish_checked(exchange, routing_key, body, properties, mandatory)
        if on_confirm is not None:
            self._expect_confirm(on_confirm, exchange, routing_key, mandatory)

    def _expect_confirm(
        self, on_confirm: Callable[[Any], Any], exchange: str, routing_key: str, mandatory: bool
    ) -> None:
        """The publish just sent wants its outcome (``basic_publish(on_confirm=)``): in
        confirm mode the tracker hands it over once settled; else it is known now."""
        machine = self._machine
        if machine.confirming:
            machine.confirms.expect(
                machine.next_publish_tag - 1,
                on_confirm,
                (exchange, routing_key) if mandatory else None,
            )
        else:
            invoke(on_confirm, None)

    def _settle(self, settlements: Iterable[Tuple[Any, Any]]) -> None:
        """Hand each settled publish its outcome (``on_confirm`` tokens, isolated)."""
        for on_confirm, outcome in settlements:
            try:
                on_confirm(outcome)
            except Exception:  # noqa: BLE001 - user code is isolated, as by invoke()
                _CALLBACK_LOGGER.exception("Exception in user callback %r", on_confirm)

    def _publish_by_reference(
        self, heads: packs.PublishPieces, body: bytes, properties: Optional[spec.BasicProperties]
    ) -> bool:
        """The fast path for a body over ``_JOINED_BODY_MAX`` that fits one frame: the head
        (method frame, content header, body frame header) is joined, the body is emitted by
        reference and the frame end after it, so a large body is never copied (a 64 KiB
        join costs a memcpy and, as measured, page faults when the allocator trims the freed
        buffers back). False when ``properties`` needs the checked path."""
        body_size = len(body)
        if properties is None:
            head = heads[1] + _pack_bare_publish_tail(body_size, heads[2], body_size)
        elif type(properties) is _BasicProperties:
            props = properties.encode()
            head = b"".join((
                heads[0],
                _pack_content_header_rest(
                    _CONTENT_HEADER_FIXED + len(props), _BASIC_CLASS_ID, 0, body_size
                ),
                props,
                _pack_body_frame_size(heads[3], body_size),
            ))
        else:
            return False
        self._link.send_frame_parts((head, body, _FRAME_END), 3, "Basic.Publish")
        machine = self._machine
        if machine.confirming:
            machine.next_publish_tag += 1
        return True

    def _publish_checked(
        self,
        exchange: str,
        routing_key: str,
        body: Union[bytes, bytearray, memoryview, str],
        properties: Optional[spec.BasicProperties],
        mandatory: bool,
    ) -> None:
        """basic_publish with every check, through the generic encoder; then caches the
        method frame for the next publish with the same arguments (see basic_publish)."""
        if type(exchange) is not str or type(routing_key) is not str:
            require_str(exchange, "exchange")
            require_str(routing_key, "routing_key")
        if type(body) is not bytes:
            if isinstance(body, str):
                body = body.encode("utf-8")
            elif not isinstance(body, _BODY_TYPES):
                raise TypeError(
                    f"body must be bytes, bytearray, memoryview or str, got {type(body)!r}"
                )
        # None is sent as empty property flags (the bytes BasicProperties() encodes to).
        if properties is not None and not isinstance(properties, _BasicProperties):
            raise TypeError(f"properties must be BasicProperties or None, got {properties!r}")
        # The link encodes everything before emitting anything, so a shortstr over 255
        # bytes (ShortStringTooLong) or a bad header value raises here with nothing sent.
        self._link.send_content(
            self.channel_number,
            _Publish(0, exchange, routing_key, mandatory, False),
            properties,
            body,
        )
        machine = self._machine
        if machine.confirming:
            machine.next_publish_tag += 1
        key = (exchange, routing_key, mandatory)
        heads = self._publish_heads
        if key not in heads and type(exchange) is str and type(routing_key) is str:
            if len(heads) >= _PUBLISH_HEADS_MAX:
                heads.clear()
            heads[key] = packs.encode_publish_pieces(
                self.channel_number, exchange, routing_key, mandatory
            )

    # ----------------------------------------------------------------------------------------
    # Instrumentation (amqpbase.instrument): only a channel whose connection has an observer
    # runs any of this; each observer call is isolated like a user callback (rule 7)
    # ----------------------------------------------------------------------------------------

    def _observe(self) -> None:
        """Install the observed versions of the per-message methods (instance attributes
        shadow the class's: the BlockingChannel, Deferred and awaitable flavours call them
        through the instance, so they are observed too) and the confirm hook (an
        ``add_callback``-style registration, which ``_fire`` runs for every Basic.Ack/Nack)."""
        if type(self._observer).publish is Observer.publish:
            # The observer keeps the base (no-op) publish hook: skip that call per message.
            self.basic_publish = self._counted_publish  # type: ignore[method-assign]
        else:
            self.basic_publish = self._observed_publish  # type: ignore[method-assign]
        self.basic_ack = self._observed_ack  # type: ignore[method-assign]
        self.basic_nack = self._observed_nack  # type: ignore[method-assign]
        self.basic_reject = self._observed_reject  # type: ignore[method-assign]
        for cls in (spec.Basic.Ack, spec.Basic.Nack):
            self._method_callbacks.setdefault(cls, []).append(
                Registration(self._observed_confirm, None, False)
            )

    def _notify_observer(self, hook: str, *args: Any) -> None:
        try:
            getattr(self._observer, hook)(*args)
        except Exception:  # noqa: BLE001 - an observer never changes what the core does
            _CALLBACK_LOGGER.exception("Exception in observer hook %s", hook)

    def _observed_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Union[bytes, bytearray, memoryview, str],
        properties: Optional[spec.BasicProperties] = None,
        mandatory: bool = False,
        on_confirm: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        """``basic_publish`` with an observer: ``publish`` before anything is encoded (it may
        return other properties: trace context headers), ``published`` after."""
        observer = self._observer
        try:
            properties, token = observer.publish(self, exchange, routing_key, body, properties)
        except Exception:  # noqa: BLE001 - the publish goes ahead unobserved
            _CALLBACK_LOGGER.exception("Exception in observer hook publish")
            Channel.basic_publish(self, exchange, routing_key, body, properties, mandatory,
                                  on_confirm)
            return
        try:
            Channel.basic_publish(self, exchange, routing_key, body, properties, mandatory,
                                  on_confirm)
        except BaseException as error:
            self._notify_observer("published", self, token, 0, error)
            raise
        machine = self._machine
        try:
            observer.published(self, token, machine.next_publish_tag - 1 if machine.confirming
                               else 0, None)
        except Exception:  # noqa: BLE001
            _CALLBACK_LOGGER.exception("Exception in observer hook published")

    def _counted_publish(
        self,
        exchange: str,
        routing_key: str,
        body: Union[bytes, bytearray, memoryview, str],
        properties: Optional[spec.BasicProperties] = None,
        mandatory: bool = False,
        on_confirm: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        """``basic_publish`` for an observer without a ``publish`` hook (metrics): only
        ``published``, after."""
        try:
            Channel.basic_publish(self, exchange, routing_key, body, properties, mandatory,
                                  on_confirm)
        except BaseException as error:
            self._notify_observer("published", self, None, 0, error)
            raise
        machine = self._machine
        try:
            self._observer.published(self, None, machine.next_publish_tag - 1
                                     if machine.confirming else 0, None)
        except Exception:  # noqa: BLE001
            _CALLBACK_LOGGER.exception("Exception in observer hook published")

    def _observed_confirm(self, inbound: frame.Method) -> None:
        method = inbound.method
        self._observer.confirmed(self, method.delivery_tag, bool(method.multiple),
                                 type(method) is _BasicAck)

    def _observed_ack(self, delivery_tag: int = 0, multiple: bool = False) -> None:
        Channel.basic_ack(self, delivery_tag, multiple)
        try:
            self._observer.settled(self, "ack", delivery_tag, True if multiple else False)
        except Exception:  # noqa: BLE001
            _CALLBACK_LOGGER.exception("Exception in observer hook settled")

    def _observed_nack(
        self, delivery_tag: int = 0, multiple: bool = False, requeue: bool = True
    ) -> None:
        Channel.basic_nack(self, delivery_tag, multiple, requeue)
        self._notify_observer("settled", self, "nack", delivery_tag, bool(multiple))

    def _observed_reject(self, delivery_tag: int = 0, requeue: bool = True) -> None:
        Channel.basic_reject(self, delivery_tag, requeue)
        self._notify_observer("settled", self, "reject", delivery_tag, False)

    def _observed_consumer(self, queue: str, auto_ack: bool, consumer: _Callback) -> _Callback:
        """``consumer`` (a ``basic_consume`` or ``basic_get`` callback) between the observer's
        ``deliver`` and ``delivered``, so a span can be current while it runs. What the
        consumer raises still reaches the core's isolation (logged there)."""
        observer = self._observer
        deliver, delivered = observer.deliver, observer.delivered
        if type(observer).delivered is Observer.delivered:
            # Nothing to do after the callback (metrics): no frame around it.
            def counted(channel: Channel, method: Any, properties: Any, body: bytes) -> None:
                try:
                    deliver(channel, queue, auto_ack, method, properties, body)
                except Exception:  # noqa: BLE001
                    _CALLBACK_LOGGER.exception("Exception in observer hook deliver")
                consumer(channel, method, properties, body)

            return counted

        def observed(channel: Channel, method: Any, properties: Any, body: bytes) -> None:
            try:
                token = deliver(channel, queue, auto_ack, method, properties, body)
            except Exception:  # noqa: BLE001
                _CALLBACK_LOGGER.exception("Exception in observer hook deliver")
                consumer(channel, method, properties, body)
                return
            try:
                consumer(channel, method, properties, body)
            except BaseException as error:
                self._notify_observer("delivered", channel, token, error)
                raise
            try:
                delivered(channel, token, None)
            except Exception:  # noqa: BLE001
                _CALLBACK_LOGGER.exception("Exception in observer hook delivered")

        return observed

    # ----------------------------------------------------------------------------------------
    # Applying the machine's actions (control frames, RPC replies, closing)
    # ----------------------------------------------------------------------------------------

    def _checked_rpc(self, method: Method, nowait: bool, callback: Optional[_Callback]) -> None:
        check_encodable(method)
        if self._topology is not None:
            callback = self._recording(method, nowait, callback)
        self._apply(self._machine.rpc(method, not nowait, callback))

    def _recording(
        self, method: Method, nowait: bool, callback: Optional[_Callback]
    ) -> Optional[_Callback]:
        """Automatic recovery records ``method`` on its Ok (a nowait one now: no Ok comes);
        returns the token to register (the user's callback runs after the record)."""
        topology = self._topology
        number = self.channel_number
        self._machine.check(Input.RPC)  # refused: nothing recorded
        if nowait:
            topology.record(number, method, None)
            return callback

        def record_then_call(reply: frame.Method) -> None:
            topology.record(number, method, reply.method)
            if callback is not None:
                invoke(callback, reply)

        return record_then_call

    # ----------------------------------------------------------------------------------------
    # Automatic recovery (issue 12; amqpbase.recovery drives it)
    # ----------------------------------------------------------------------------------------

    @property
    def recovery_handlers(self) -> RecoverableChannel:
        """Automatic recovery's seam (``protocol/recovery.py``): what the recovery driver and
        the connection may do to this channel; made on first use (only recovery uses it),
        the same object afterwards. Internal to amqpbase; not part of pika's API."""
        handlers = self._recovery_handlers
        if handlers is None:
            handlers = self._recovery_handlers = RecoverableChannel(
                channel=self, suspend=self._suspend, reopen=self._reopen,
                restore_rpc=self._restore_rpc, restore_confirm=self._restore_confirm,
                restore_consumer=self._restore_consumer, consuming=self._consuming,
                release=self._restored, close_for_good=self._end_recovery,
                consumer_lost=self._consumer_lost,
            )
        return handlers

    @property
    def recovering(self) -> bool:
        """True from the loss of the connection's link until this channel is restored (its
        calls raise ``ChannelRecoveringError`` meanwhile)."""
        return self._recovering

    def add_on_confirms_lost_callback(self, callback: _Callback) -> None:
        """``callback(channel, ConfirmLostError)`` when the link dropped with publishes
        whose confirm was outstanding (``exc.delivery_tags``); each such publish is reported
        once, never as ack or nack, and never republished."""
        require_callable(callback)
        self._confirms_lost_callbacks.append(callback)

    def add_on_interrupted_callback(self, callback: _Callback) -> None:
        """``callback(channel, OperationInterruptedError)`` when the link dropped while the
        channel recovers: synchronous requests in flight get no reply (their callbacks are
        not called), a pending ``basic_get`` neither."""
        require_callable(callback)
        self._interrupted_callbacks.append(callback)

    def _suspend(self, reason: BaseException) -> Optional[int]:
        """The link dropped and the connection recovers: CLOSED without a word, the confirms
        outstanding fail once with ``ConfirmLostError``, RPCs in flight are interrupted;
        the callbacks and the recorded topology stay. Returns how many confirms were lost;
        None when the channel was closing: it is closed for good with ``reason`` then."""
        machine = self._machine
        unconfirmed, interrupted = machine.suspend()
        if interrupted < 0:
            self._on_connection_closed(reason)
            return None
        self._recovering = True
        lost = exceptions.ConfirmLostError(
            unconfirmed, f"{len(unconfirmed)} confirm(s) lost on channel {self.channel_number}: "
            f"{reason!r}")
        lost.__cause__ = reason
        abandoned = machine.confirms.abandon(lost)
        if abandoned:
            self._settle(abandoned)
        if self._observer is not None:
            self._notify_observer("channel_suspended", self, lost)
        if unconfirmed:
            LOGGER.warning("%r: the link dropped with %d publish(es) unconfirmed (tags %d..%d)",
                           self, len(unconfirmed), unconfirmed[0], unconfirmed[-1])
            for callback in list(self._confirms_lost_callbacks):
                invoke(callback, self, lost)
        interruption = exceptions.OperationInterruptedError(
            f"{interrupted} request(s) in flight on channel {self.channel_number} when the link "
            f"dropped: {reason!r}")
        interruption.__cause__ = reason
        for callback in list(self._interrupted_callbacks):
            invoke(callback, self, interruption)
        return len(unconfirmed)

    def _reopen(self, on_open: _Callback) -> None:
        """Open the next incarnation on the same number; ``on_open(channel)`` on OpenOk."""
        self._on_open_callback = on_open
        self.open()

    def _restore_rpc(self, method: Method, callback: _Callback) -> None:
        """A restore request (not recorded again), with its reply to ``callback``."""
        self._apply(self._machine.rpc(method, True, callback))

    def _restore_consumer(self, method: Any, consumer: _Callback, callback: _Callback) -> None:
        self._apply(self._machine.consume(method, consumer, callback))

    def _restore_confirm(self, callback: _Callback) -> None:
        """Confirm.Select again: this incarnation's publishes number on from here."""
        self._apply(self._machine.confirm_select(False, callback))

    def _consuming(self, consumer_tag: str) -> bool:
        return consumer_tag in self._machine.consumers

    def _restored(self) -> None:
        self._recovering = False

    def _end_recovery(self, reason: BaseException) -> None:
        """The connection closes for good while this channel is suspended: it closes with
        ``reason`` (its on-close callbacks run, once)."""
        if self._recovering and self._machine.state is ChannelState.CLOSED:
            self._finish_close(Closed(reason, None, [], False, False))
        else:
            self._on_connection_closed(reason)

    def _consumer_lost(self, cancel_frame: frame.Method) -> None:
        """A consumer could not be resumed or re-subscribed: its cancel callbacks get
        ``cancel_frame`` (a Basic.Cancel frame, as for a broker cancel, whose ``error`` is
        the ``ConsumerRecoveryFailedError``, logged; or the broker's plain frame)."""
        error = getattr(cancel_frame, "error", None)
        if error is not None:
            LOGGER.error("%r: %s", self, error)
        self._fire(cancel_frame)

    def _apply(self, actions: List[Action]) -> None:
        """Carry out the machine's actions in order (user code runs last in each batch the
        machine ordered so: queued RPCs are on the wire before a reply callback runs)."""
        for action in actions:
            kind = type(action)
            if kind is Send:
                self._link.send_method(self.channel_number, action.method)
            elif kind is Replied:
                if action.token is not None:
                    invoke(action.token, action.frame)
                self._fire(action.frame)
            elif kind is _DeliveryFrame:
                self._on_inbound(action)
            elif kind is Confirmed:
                if self._machine.confirms.tokens:
                    self._settle(self._machine.confirms.resolve(action.frame))
                self._fire(action.frame)
            elif kind is Opened:
                if self._observer is not None and self._machine.incarnation == 1:
                    self._notify_observer("channel_opened", self)
                callback = self._on_open_callback
                self._on_open_callback = None
                if callback is not None:
                    invoke(callback, self)
            elif kind is GotMessage:
                if action.token is not None:
                    invoke(action.token, self, action.frame.method, action.properties,
                           action.body)
                self._fire(action.frame)
            elif kind is Returned:
                self._on_return(action)
            elif kind is Notified:
                method = action.frame.method
                if type(method) is spec.Basic.Cancel and self._topology is not None:
                    # the broker cancelled it: not resumed by a recovery; with
                    # resubscribe_on_cancel the recovery re-subscribes it, and the cancel
                    # callbacks hear of it only if that fails (ConsumerRecoveryFailedError)
                    if self._topology.cancelled_by_broker(self.channel_number,
                                                          method.consumer_tag):
                        continue
                if type(method) is spec.Channel.Flow and not self._method_callbacks.get(
                    spec.Channel.Flow
                ):
                    LOGGER.warning("Channel.Flow(active=%s) from the broker on %r",
                                   method.active, self)
                self._fire(action.frame)
            elif kind is Closed:
                self._finish_close(action)
            else:  # pragma: no cover - the machine returns only the kinds above
                raise AssertionError(f"unknown channel action {action!r}")

    def _fire(self, frame_value: frame.Method) -> None:
        """Run the add_callback()-style registrations for this method's class."""
        if not self._method_callbacks:
            return
        method = frame_value.method
        registrations = self._method_callbacks.get(type(method))
        if not registrations:
            return
        for registration in list(registrations):
            if registration.matches(method):
                if registration.one_shot:
                    registrations.remove(registration)
                invoke(registration.callback, frame_value)

    def _on_return(self, returned: Returned) -> None:
        method = returned.method
        machine = self._machine
        if self._observer is not None:
            self._notify_observer("returned", self, method, returned.properties, returned.body)
        if machine.confirms.tokens:
            # Paired with its mandatory publish when that publish's ack comes (RabbitMQ sends
            # the Return first): the publish fails with UnroutableError then.
            machine.confirms.returned(
                ReturnedMessage(self, method, returned.properties, returned.body),
                (method.exchange, method.routing_key),
                machine.next_publish_tag - 1,
            )
        if not self._return_callbacks:
            LOGGER.warning(
                "Basic.Return %s %r (exchange %r, routing key %r) and no return callback on %r",
                method.reply_code,
                method.reply_text,
                method.exchange,
                method.routing_key,
                self,
            )
        for callback in list(self._return_callbacks):
            invoke(callback, self, method, returned.properties, returned.body)

    def _on_connection_closed(self, reason: BaseException) -> None:
        """``ChannelHandlers.on_connection_closed``: CLOSED without sending anything; every
        pending RPC, get, confirm and consumer is dropped and the on-close callbacks get
        ``reason``. A no-op when the channel is already closed."""
        self._apply(self._machine.connection_closed(reason))

    def _finish_close(self, closed: Closed) -> None:
        """The machine is CLOSED: tell the user why, then the connection."""
        if closed.frame is not None:
            self._fire(closed.frame)
        unconfirmed = closed.unconfirmed
        if unconfirmed:
            LOGGER.warning(
                "%r closed with %d publish(es) unconfirmed (tags %d..%d): %r",
                self,
                len(unconfirmed),
                unconfirmed[0],
                unconfirmed[-1],
                closed.reason,
            )
        abandoned = self._machine.confirms.abandon(closed.reason)
        if abandoned:
            # Every publish still waiting for its outcome fails with the close reason
            # (internals.md rule 8), before the on-close callbacks run.
            self._settle(abandoned)
        self._on_open_callback = None
        self._recovering = False
        if self._observer is not None:
            self._notify_observer("channel_closed", self, closed.reason)
        if self._topology is not None:
            self._topology.forget_channel(self.channel_number)
        callbacks = self._on_close_callbacks
        self._on_close_callbacks = []
        self._method_callbacks = {}
        self._return_callbacks = []
        for callback in callbacks:
            invoke(callback, self, closed.reason)
        if closed.release:
            self._link.channel_closed(self.channel_number, closed.by_broker)

    # ----------------------------------------------------------------------------------------
    # Callback registration
    # ----------------------------------------------------------------------------------------

    def add_callback(
        self, callback: _Callback, replies: Sequence[Any], one_shot: bool = True
    ) -> None:
        """Call ``callback(method_frame)`` when a method of one of the ``replies`` classes
        arrives (after the channel's own handling). An entry may be ``(MethodClass, {attr:
        value})`` to match only methods with those attribute values (pika compatible).
        Content-bearing Deliver/Return never trigger these; GetOk does, after the get callback.
        """
        require_callable(callback)
        if isinstance(replies, (str, bytes)) or not hasattr(replies, "__iter__"):
            raise TypeError(f"replies must be a sequence of AMQP method classes, got {replies!r}")
        parsed = []
        for reply in replies:
            if isinstance(reply, tuple) and len(reply) != 2:
                raise TypeError(f"replies entries must be (class, dict) pairs, got {reply!r}")
            cls, args = reply if isinstance(reply, tuple) else (reply, None)
            if not (isinstance(cls, type) and issubclass(cls, Method)):
                raise TypeError(f"replies must be AMQP method classes, got {reply!r}")
            if args is not None and not isinstance(args, dict):
                raise TypeError(f"replies entry arguments must be a dict, got {args!r}")
            parsed.append((cls, args))
        for cls, args in parsed:
            self._method_callbacks.setdefault(cls, []).append(
                Registration(callback, args, bool(one_shot))
            )

    def add_on_cancel_callback(self, callback: _Callback) -> None:
        """``callback(method_frame)`` whenever the broker sends Basic.Cancel for a consumer."""
        require_callable(callback)
        self._method_callbacks.setdefault(spec.Basic.Cancel, []).append(
            Registration(callback, None, False)
        )

    def add_on_close_callback(self, callback: _Callback) -> None:
        """``callback(channel, reason)`` once, when the channel closes. ``reason`` is
        ``ChannelClosedByClient`` after our close completed, ``ChannelClosedByBroker`` after a
        broker Channel.Close, else the connection's close reason."""
        require_callable(callback)
        self._on_close_callbacks.append(callback)

    def add_on_flow_callback(self, callback: _Callback) -> None:
        """``callback(method_frame)`` when the broker sends Channel.Flow (RabbitMQ no longer
        does; it blocks the connection instead)."""
        require_callable(callback)
        self._method_callbacks.setdefault(spec.Channel.Flow, []).append(
            Registration(callback, None, False)
        )

    def add_on_return_callback(self, callback: _Callback) -> None:
        """``callback(channel, method, properties, body)`` for each Basic.Return."""
        require_callable(callback)
        self._return_callbacks.append(callback)

    # ----------------------------------------------------------------------------------------
    # Basic
    # ----------------------------------------------------------------------------------------

    def basic_consume(
        self,
        queue: str,
        on_message_callback: _Callback,
        auto_ack: bool = False,
        exclusive: bool = False,
        consumer_tag: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> str:
        """Start a consumer; returns its tag (generated when not given). Deliveries go to
        ``on_message_callback(channel, method, properties, body)``; ``callback(method_frame)``
        gets the Basic.ConsumeOk. Raises ``DuplicateConsumerTag`` for a tag in use."""
        require_str(queue, "queue")
        require_callable(on_message_callback, "on_message_callback")
        self._raise_if_not_open()
        optional_callback(callback)
        if consumer_tag is not None:
            require_str(consumer_tag, "consumer_tag")
        require_table(arguments)
        if not consumer_tag:
            consumer_tag = f"ctag{self.channel_number}.{uuid.uuid4().hex}"
        machine = self._machine
        if consumer_tag in machine.consumers or consumer_tag in machine.cancelling:
            raise exceptions.DuplicateConsumerTag(consumer_tag)
        method = spec.Basic.Consume(
            0, queue, consumer_tag, False, bool(auto_ack), bool(exclusive), False, arguments
        )
        check_encodable(method)
        if self._observer is not None:
            on_message_callback = self._observed_consumer(queue, bool(auto_ack),
                                                          on_message_callback)
        topology = self._topology
        if topology is not None:
            callback = self._recording_consumer(method, on_message_callback, callback)
        self._apply(machine.consume(method, on_message_callback, callback))
        return consumer_tag

    def _recording_consumer(
        self, method: Any, on_message_callback: _Callback, callback: Optional[_Callback]
    ) -> _Callback:
        topology = self._topology
        record = ConsumerRecord(self.channel_number, method.consumer_tag, method.queue,
                                on_message_callback, bool(method.no_ack),
                                bool(method.exclusive), method.arguments)

        def record_then_call(reply: frame.Method) -> None:
            topology.record_consumer(record)
            if callback is not None:
                invoke(callback, reply)

        return record_then_call

    def basic_cancel(self, consumer_tag: str = "", callback: Optional[_Callback] = None) -> None:
        """Cancel a consumer. Without ``callback`` this sends ``nowait=True`` and forgets the
        consumer at once (pika); with one, ``callback(method_frame)`` gets the CancelOk.
        An unknown or already-cancelling tag is logged and ignored (callback not called)."""
        require_str(consumer_tag, "consumer_tag")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        self._apply(self._machine.cancel(consumer_tag, nowait, callback))
        if self._topology is not None:
            self._topology.forget_consumer(self.channel_number, consumer_tag)

    def basic_get(self, queue: str, callback: _Callback, auto_ack: bool = False) -> None:
        """Fetch one message: ``callback(channel, method, properties, body)`` on Basic.GetOk.
        On Basic.GetEmpty the callback is NOT called (pika); register one for
        ``spec.Basic.GetEmpty`` with ``add_callback`` to learn of it. One get at a time
        (``DuplicateGetOkCallback``)."""
        require_str(queue, "queue")
        require_callable(callback)
        self._raise_if_not_open()
        if self._machine.get_pending:
            raise exceptions.DuplicateGetOkCallback()
        method = spec.Basic.Get(0, queue, bool(auto_ack))
        check_encodable(method)
        if self._observer is not None:
            callback = self._observed_consumer(queue, bool(auto_ack), callback)
        self._apply(self._machine.get(method, callback))

    def basic_qos(
        self,
        prefetch_size: int = 0,
        prefetch_count: int = 0,
        global_qos: bool = False,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Set the prefetch window (``prefetch_size`` octets, ``prefetch_count`` messages;
        ``global_qos``: RabbitMQ shares the count across the channel's consumers)."""
        self._raise_if_not_open()
        optional_callback(callback)
        require_uint(prefetch_size, "prefetch_size", 32)
        require_uint(prefetch_count, "prefetch_count", 16)
        method = spec.Basic.Qos(prefetch_size, prefetch_count, bool(global_qos))
        if self._topology is not None:
            callback = self._recording(method, False, callback)
        self._apply(self._machine.rpc(method, True, callback))

    def basic_recover(self, requeue: bool = False, callback: Optional[_Callback] = None) -> None:
        """Ask the broker to redeliver unacknowledged messages (waits for RecoverOk)."""
        self._raise_if_not_open()
        optional_callback(callback)
        self._apply(self._machine.rpc(spec.Basic.Recover(bool(requeue)), True, callback))

    # ----------------------------------------------------------------------------------------
    # Channel
    # ----------------------------------------------------------------------------------------

    def open(self) -> None:
        """Send Channel.Open (called by the connection once). ``on_open_callback(channel)``
        runs when Channel.OpenOk arrives, unless ``close()`` was called meanwhile."""
        machine = self._machine
        actions = machine.open()
        if machine.incarnation > 1:
            # A new incarnation on the same number (recovery): route its frames here again.
            self._link.attach(self.channel_number, self._handlers)
        self._apply(actions)

    def close(self, reply_code: int = 0, reply_text: str = "Normal shutdown") -> None:
        """Close gracefully: cancel every consumer (Basic.Cancel, waiting for each CancelOk),
        then Channel.Close; on CloseOk the on-close callbacks get ``ChannelClosedByClient``.
        Deliveries arriving meanwhile are dropped (the broker requeues unacked messages).
        Raises ``ChannelWrongStateError`` when already closing or closed."""
        require_uint(reply_code, "reply_code", 16)
        require_str(reply_text, "reply_text")
        self._loop_thread.check()
        self._machine.check(Input.CLOSE)
        method = spec.Channel.Close(reply_code, reply_text, 0, 0)
        check_encodable(method)
        LOGGER.info("Closing %r (%s): %r", self, reply_code, reply_text)
        self._apply(self._machine.close(reply_code, reply_text))

    def flow(self, active: bool, callback: Optional[_Callback] = None) -> None:
        """Ask the broker to pause (False) or resume (True) deliveries; ``callback(active)``
        gets the broker's answer as a bool (pika)."""
        self._raise_if_not_open()
        optional_callback(callback)
        notify = None
        if callback is not None:
            user_callback = callback

            def notify(frame_value: frame.Method) -> None:
                user_callback(frame_value.method.active)

        self._apply(self._machine.rpc(spec.Channel.Flow(bool(active)), True, notify))

    def confirm_delivery(
        self, ack_nack_callback: _Callback, callback: Optional[_Callback] = None
    ) -> None:
        """Enter publisher-confirm mode. ``ack_nack_callback(method_frame)`` gets every
        Basic.Ack / Basic.Nack; publishes from now on get delivery tags 1, 2, ... Without
        ``callback`` Confirm.Select is sent ``nowait`` (pika). Raises ``MethodNotImplemented``
        when the broker did not announce publisher_confirms and basic.nack."""
        if not callable(ack_nack_callback):
            raise ValueError("confirm_delivery requires a callable ack_nack_callback")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        if not (self.connection.publisher_confirms and self.connection.basic_nack):
            raise exceptions.MethodNotImplemented("Confirm.Select not supported by the broker")
        for cls in (spec.Basic.Ack, spec.Basic.Nack):
            self._method_callbacks.setdefault(cls, []).append(
                Registration(ack_nack_callback, None, False)
            )
        if self._topology is not None:
            callback = self._recording(spec.Confirm.Select(nowait), nowait, callback)
        self._apply(self._machine.confirm_select(nowait, callback))

    # ----------------------------------------------------------------------------------------
    # Exchange / Queue / Tx
    # ----------------------------------------------------------------------------------------

    def exchange_declare(
        self,
        exchange: str,
        exchange_type: Any = "direct",
        passive: bool = False,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Declare an exchange (``exchange_type`` may be a str or a str-valued Enum)."""
        require_str(exchange, "exchange")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        if isinstance(exchange_type, Enum):
            exchange_type = exchange_type.value
        require_str(exchange_type, "exchange_type")
        require_table(arguments)
        self._checked_rpc(
            spec.Exchange.Declare(
                0,
                exchange,
                exchange_type,
                bool(passive),
                bool(durable),
                bool(auto_delete),
                bool(internal),
                nowait,
                arguments,
            ),
            nowait,
            callback,
        )

    def exchange_delete(
        self,
        exchange: Optional[str] = None,
        if_unused: bool = False,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Delete an exchange."""
        self._raise_if_not_open()
        require_str(exchange, "exchange")
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Exchange.Delete(0, exchange, bool(if_unused), nowait), nowait, callback
        )

    def exchange_bind(
        self,
        destination: str,
        source: str,
        routing_key: str = "",
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Bind exchange ``destination`` to exchange ``source`` (RabbitMQ extension)."""
        self._raise_if_not_open()
        require_str(destination, "destination")
        require_str(source, "source")
        require_str(routing_key, "routing_key")
        require_table(arguments)
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Exchange.Bind(0, destination, source, routing_key, nowait, arguments),
            nowait,
            callback,
        )

    def exchange_unbind(
        self,
        destination: Optional[str] = None,
        source: Optional[str] = None,
        routing_key: str = "",
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Remove an exchange-to-exchange binding."""
        self._raise_if_not_open()
        require_str(destination, "destination")
        require_str(source, "source")
        require_str(routing_key, "routing_key")
        require_table(arguments)
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Exchange.Unbind(0, destination, source, routing_key, nowait, arguments),
            nowait,
            callback,
        )

    def queue_declare(
        self,
        queue: str,
        passive: bool = False,
        durable: bool = False,
        exclusive: bool = False,
        auto_delete: bool = False,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Declare a queue (``''``: the broker names it; the name is in the DeclareOk, which
        only arrives when a ``callback`` is given — without one pika sends ``nowait``)."""
        require_str(queue, "queue")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        require_table(arguments)
        self._checked_rpc(
            spec.Queue.Declare(
                0,
                queue,
                bool(passive),
                bool(durable),
                bool(exclusive),
                bool(auto_delete),
                nowait,
                arguments,
            ),
            nowait,
            callback,
        )

    def queue_bind(
        self,
        queue: str,
        exchange: str,
        routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Bind ``queue`` to ``exchange``; ``routing_key`` defaults to the queue name."""
        require_str(queue, "queue")
        require_str(exchange, "exchange")
        self._raise_if_not_open()
        nowait = optional_callback(callback)
        if routing_key is None:
            routing_key = queue
        require_str(routing_key, "routing_key")
        require_table(arguments)
        self._checked_rpc(
            spec.Queue.Bind(0, queue, exchange, routing_key, nowait, arguments), nowait, callback
        )

    def queue_unbind(
        self,
        queue: str,
        exchange: Optional[str] = None,
        routing_key: Optional[str] = None,
        arguments: Optional[Dict[str, Any]] = None,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Unbind ``queue`` from ``exchange`` (Queue.Unbind has no nowait: always waits)."""
        self._raise_if_not_open()
        require_str(queue, "queue")
        require_str(exchange, "exchange")
        optional_callback(callback)
        if routing_key is None:
            routing_key = queue
        require_str(routing_key, "routing_key")
        require_table(arguments)
        self._checked_rpc(
            spec.Queue.Unbind(0, queue, exchange, routing_key, arguments), False, callback
        )

    def queue_delete(
        self,
        queue: str,
        if_unused: bool = False,
        if_empty: bool = False,
        callback: Optional[_Callback] = None,
    ) -> None:
        """Delete a queue."""
        self._raise_if_not_open()
        require_str(queue, "queue")
        nowait = optional_callback(callback)
        self._checked_rpc(
            spec.Queue.Delete(0, queue, bool(if_unused), bool(if_empty), nowait), nowait, callback
        )

    def queue_purge(self, queue: str, callback: Optional[_Callback] = None) -> None:
        """Remove every ready message from a queue."""
        self._raise_if_not_open()
        require_str(queue, "queue")
        nowait = optional_callback(callback)
        self._checked_rpc(spec.Queue.Purge(0, queue, nowait), nowait, callback)

    def tx_select(self, callback: Optional[_Callback] = None) -> None:
        """Enter transaction mode."""
        self._raise_if_not_open()
        optional_callback(callback)
        if self._topology is not None:
            callback = self._recording(spec.Tx.Select(), False, callback)
        self._apply(self._machine.rpc(spec.Tx.Select(), True, callback))

    def tx_commit(self, callback: Optional[_Callback] = None) -> None:
        """Commit the current transaction."""
        self._raise_if_not_open()
        optional_callback(callback)
        self._apply(self._machine.rpc(spec.Tx.Commit(), True, callback))

    def tx_rollback(self, callback: Optional[_Callback] = None) -> None:
        """Abandon the current transaction."""
        self._raise_if_not_open()
        optional_callback(callback)
        self._apply(self._machine.rpc(spec.Tx.Rollback(), True, callback))
