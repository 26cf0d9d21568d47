"""Automatic recovery across the real 3-node cluster, on every loop and API flavour (issue 12).

One test body per behaviour, run by each conformance driver (select, Tornado, asyncio,
Twisted) through the callback API, and on Twisted through the Deferred API too
(``TwistedProtocolConnection``: its channels, consumer queues, per-publish Deferreds and
``recovered()``; the ``twisted-deferred`` id). A client connected to node N (recovery
endpoints: all three nodes, heartbeat 2 s) publishes with confirms to a QUORUM queue and
consumes from it, and consumes from a server-named classic exclusive queue; node N is killed
(SIGKILL), stopped (``stop_app``) or frozen (SIGSTOP: only the heartbeat notices); the client
resumes on another node. Then:

- 0 messages acked by the broker are lost: every acked body is consumed (from the resumed
  consumer) or still in the quorum queue;
- every publish ended exactly once, as ack, nack or ``ConfirmLostError``; none pending;
- each consumer resumed once (``rabbitmqctl list_consumers`` on a live node shows one per
  registration), the server-named queue was renamed (the classic exclusive one dies with its
  node and its connection) and its consumer follows the new name;
- an ack of a delivery tag of the lost link raises ``StaleDeliveryTagError`` (plain and
  ``multiple=True``) and sends nothing: no channel is closed (no 406) and no surviving node
  logged a PRECONDITION_FAILED.

Also: recovery gives up with ``RecoveryFailedError`` when every endpoint stays down past
``give_up_after`` (endpoints on closed ports; the link is cut by ``close_all_connections``).

The freeze: the heartbeat notices in 2 intervals (4 s), the client reconnects to a live node
at once, and that node answers the re-declare of the server-named queue (a new queue: a
Mnesia transaction over every member) only once the frozen member is declared down, after
Erlang's ``net_ticktime`` (10 s on this cluster, ``scripts/cluster``); a restore step without
an answer within ``restore_timeout`` (5 s here) fails that attempt and the next endpoint is
tried. A node frozen that long is killed and restarted afterwards (thawed, it would find the
cluster partitioned). See docs/recovery.md, "A frozen node".

Measured (the "cluster measurements" section, and one ``RUN`` line per fault on stdout):
seconds from the fault to the consumer resumed (the recovery's success callback, consumers
restored; ``recovered()`` for the Deferred API) and to the first confirmed publish on the new
node, and messages published / acked / ConfirmLostError / found, per loop and fault.
``AMQPBASE_CLUSTER_RECOVERY_RUNS`` faults per test (default 1; the issue's median of 10:
``=10``). The faults by default: kill on every flavour, freeze on select and the Deferred
API, ``stop_app`` on Tornado (:data:`SPREAD`: the client's path after a fault is the same on
every loop, and these tests cost mostly broker time, so CI stays short);
``AMQPBASE_CLUSTER_RECOVERY_FAULTS=kill,stop_app,freeze`` runs the named faults on every one.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import pytest
from conformance.conftest import DRIVERS, driver, no_unexpected_error_logs  # noqa: F401
from conformance.drivers import Driver, driver_class

from amqpbase import ConnectionParameters, Recovery, exceptions, spec
from amqpbase.adapters.blocking import BlockingConnection
from amqpbase.connection import Connection
from amqpbase.parameters import Parameters

from .conftest import Cluster, record_measurement

RUNS = int(os.environ.get("AMQPBASE_CLUSTER_RECOVERY_RUNS", "1"))
QUORUM = {"x-queue-type": "quorum"}
HEARTBEAT = 2
#: Bound on each restore step (Recovery.restore_timeout): below the 7.5-12.5 s a live node
#: holds a new queue's declare while a frozen member is not yet declared down.
RESTORE_TIMEOUT = 5.0
#: Flavour ids: a loop's callback API, and the Deferred API on Twisted.
FLAVOURS = list(DRIVERS) + (["twisted-deferred"] if "twisted" in DRIVERS else [])
#: The node each flavour starts on (spread over the cluster; each is the one faulted).
FIRST_NODE = {"select": 1, "tornado": 2, "asyncio": 3, "twisted": 1, "twisted-deferred": 2}


#: The default beyond kill on every flavour: each slower fault on a few flavours only (the
#: client's path after the fault is the same on every loop; a freeze test costs ~40 s, a
#: stop_app one ~25 s here, most of it the broker's). Together they cover every loop.
SPREAD = {"freeze": ("select", "twisted-deferred"), "stop_app": ("tornado",)}


def _combinations() -> List[Tuple[str, str]]:
    named = os.environ.get("AMQPBASE_CLUSTER_RECOVERY_FAULTS")
    if named:
        faults = [name.strip() for name in named.split(",") if name.strip()]
        return [(flavour, fault) for fault in faults for flavour in FLAVOURS]
    combos = [(flavour, "kill") for flavour in FLAVOURS]
    for fault, chosen in SPREAD.items():
        picked = [flavour for flavour in chosen if flavour in FLAVOURS] or FLAVOURS[:1]
        combos += [(flavour, fault) for flavour in picked]
    return combos


COMBINATIONS = _combinations()


def in_thread(driver: Driver, work: Callable[[], Any], what: str, timeout: float = 180.0) -> Any:
    """Run ``work()`` (a rabbitmqctl or scripts/cluster call: seconds on a busy machine) on a
    worker thread while the loop keeps running, so the client's heartbeats go on."""
    done: List[Any] = []

    def run() -> None:
        try:
            done.append((True, work()))
        except BaseException as error:  # noqa: BLE001 - re-raised on the test's thread
            done.append((False, error))

    threading.Thread(target=run, daemon=True).start()
    driver.run_until(lambda: done, timeout, what=what)
    ok, value = done[0]
    if not ok:
        raise value
    return value


def node_of(cluster: Cluster, params: ConnectionParameters) -> int:
    for node in cluster.nodes:
        if node.port == params.port:
            return node.number
    raise AssertionError(f"{params!r} is not a node of the cluster")


def rpc(driver: Driver, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    replies: List[Any] = []
    method(*args, callback=lambda *got: replies.append(got[0]), **kwargs)
    driver.run_until(lambda: replies, 15.0, what=f"the reply to {method.__name__}")
    return replies[0]


def open_channel(driver: Driver, conn: Connection) -> Any:
    opened: List[Any] = []
    channel = conn.channel(on_open_callback=opened.append)
    driver.run_until(lambda: opened, 15.0, what="a channel to open")
    return channel


def new_events() -> Dict[str, List[Any]]:
    return {k: [] for k in ("open", "open_error", "close", "started", "attempt", "ok", "failed",
                            "renamed", "renamed_at", "recovered_failed",
                            "recovering_when_recovered")}


def watch_recovery(conn: Connection, events: Dict[str, List[Any]], successes: bool) -> None:
    """Record the connection's recovery callbacks in ``events`` (``successes``: the success
    callback too; the Deferred flavour hears of successes through ``recovered()``)."""
    conn.add_on_recovery_started_callback(
        lambda c, r: events["started"].append((time.monotonic(), r)))
    conn.add_on_recovery_attempt_failed_callback(lambda *a: events["attempt"].append(a[1:]))
    if successes:
        def succeeded(c: Connection, report: Any) -> None:
            events["recovering_when_recovered"].append(c.recovering)
            events["ok"].append((time.monotonic(), report))
        conn.add_on_recovery_succeeded_callback(succeeded)
    conn.add_on_recovery_failed_callback(lambda c, e: events["failed"].append(e))
    conn.add_on_queue_renamed_callback(lambda c, o, n: (
        events["renamed"].append((o, n)), events["renamed_at"].append(time.monotonic())))


class CallbackApi:
    """pika's callback API on one loop's connection class (the conformance driver's)."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.name = driver.name

    def connect(self, params: Parameters, recovery: Recovery
                ) -> Tuple[Any, Dict[str, List[Any]]]:
        driver = self.driver
        events = new_events()
        conn: Connection = driver.connection_class(
            parameters=params,
            on_open_callback=events["open"].append,
            on_open_error_callback=lambda c, e: events["open_error"].append(e),
            on_close_callback=lambda c, r: events["close"].append(r),
            recovery=recovery,
            **{driver.loop_argument: driver.loop},
        )
        driver.connections.append(conn)
        watch_recovery(conn, events, successes=True)
        driver.run_until(lambda: events["open"] or events["open_error"], 20.0,
                         what="the connection to open")
        assert events["open"], events["open_error"]
        return conn, events

    def channel(self, conn: Any) -> Any:
        return open_channel(self.driver, conn)

    def rpc(self, channel: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        return rpc(self.driver, getattr(channel, name), *args, **kwargs)

    def confirm(self, channel: Any) -> None:
        rpc(self.driver, channel.confirm_delivery, lambda _frame: None)

    def consume(self, channel: Any, queue: str, tag: str,
                on_message: Callable[[Any, Any, bytes], None]) -> None:
        channel.basic_consume(queue, lambda ch, method, _props, body: on_message(ch, method, body),
                              consumer_tag=tag)

    def publish(self, channel: Any, queue: str, body: bytes,
                settle: Callable[[Any], None]) -> None:
        """Raises at the call when the channel refuses (recovering, closed)."""
        channel.basic_publish("", queue, body, on_confirm=settle)

    @staticmethod
    def is_ack(outcome: Any) -> bool:
        return type(outcome).__name__ == "Method" and type(outcome.method) is spec.Basic.Ack

    def on_confirms_lost(self, channel: Any, callback: Callable[[Any, Any], None]) -> None:
        channel.add_on_confirms_lost_callback(callback)

    def close(self, conn: Any) -> None:
        conn.close()


#: What a publish refused at the call raises (the Deferred API fails its Deferred at once).
REFUSED = (exceptions.ChannelRecoveringError, exceptions.ConnectionWrongStateError,
           exceptions.ChannelWrongStateError)


class DeferredApi(CallbackApi):
    """The Deferred API (``TwistedProtocolConnection``) on the Twisted driver's reactor: every
    request a Deferred (waited for by the driver, which runs the reactor), consumers as
    consumer queues pumped with ``get()``, per-publish Deferreds, ``recovered()``."""

    def __init__(self, driver: Driver) -> None:
        super().__init__(driver)
        self.name = "twisted-deferred"
        self.consumer_ends: List[BaseException] = []

    def wait(self, deferred: Any, what: str, timeout: float = 15.0) -> Any:
        box: List[Tuple[bool, Any]] = []
        deferred.addCallbacks(lambda result: box.append((True, result)),
                              lambda failure: box.append((False, failure.value)))
        self.driver.run_until(lambda: box, timeout, what=what)
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def connect(self, params: Parameters, recovery: Recovery
                ) -> Tuple[Any, Dict[str, List[Any]]]:
        from amqpbase.adapters.twisted import TwistedProtocolConnection

        events = new_events()
        conn = TwistedProtocolConnection(params, custom_reactor=self.driver.loop,
                                         recovery=recovery)
        self.driver.connections.append(conn.impl)
        watch_recovery(conn.impl, events, successes=False)

        def arm() -> None:
            # one recovered() Deferred per recovery: the next is asked for when it fires
            conn.recovered().addCallbacks(recovered, events["recovered_failed"].append)

        def recovered(report: Any) -> None:
            events["recovering_when_recovered"].append(conn.recovering)
            events["ok"].append((time.monotonic(), report))
            arm()

        arm()
        conn.closed.addCallbacks(events["close"].append,
                                 lambda failure: events["close"].append(failure.value))
        self.wait(conn.ready, "the connection to open", 20.0)
        events["open"].append(conn)
        return conn, events

    def channel(self, conn: Any) -> Any:
        return self.wait(conn.channel(), "a channel to open")

    def rpc(self, channel: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.wait(getattr(channel, name)(*args, **kwargs), f"the reply to {name}")

    def confirm(self, channel: Any) -> None:
        self.wait(channel.confirm_delivery(), "the reply to confirm_delivery")

    def consume(self, channel: Any, queue: str, tag: str,
                on_message: Callable[[Any, Any, bytes], None]) -> None:
        messages, _tag = self.wait(channel.basic_consume(queue, consumer_tag=tag),
                                   "the reply to basic_consume")

        def pump() -> None:
            messages.get().addCallbacks(got, lambda failure: self.consumer_ends.append(
                failure.value))

        def got(message: Any) -> None:
            try:
                on_message(channel, message.method, message.body)
            finally:
                pump()

        pump()

    def publish(self, channel: Any, queue: str, body: bytes,
                settle: Callable[[Any], None]) -> None:
        at_call: List[BaseException] = []
        calling = [True]

        def done(outcome: Any) -> None:
            if calling[0] and isinstance(outcome, REFUSED):
                at_call.append(outcome)  # refused at the call: the caller sees it raised
            else:
                settle(outcome)

        channel.basic_publish("", queue, body).addCallbacks(
            done, lambda failure: done(failure.value))
        calling[0] = False
        if at_call:
            raise at_call[0]

    @staticmethod
    def is_ack(outcome: Any) -> bool:
        return type(outcome) is spec.Basic.Ack

    def on_confirms_lost(self, channel: Any, callback: Callable[[Any, Any], None]) -> None:
        channel.impl.add_on_confirms_lost_callback(callback)

    def close(self, conn: Any) -> None:
        conn.close().addErrback(lambda _failure: None)  # the outcome is in events["close"]


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[CallbackApi]:
    """A flavour (indirect parameter): a fresh loop driver and the API the body uses."""
    flavour: str = request.param
    instance = driver_class("twisted" if flavour == "twisted-deferred" else flavour)()
    try:
        yield DeferredApi(instance) if flavour == "twisted-deferred" else CallbackApi(instance)
    finally:
        instance.close()


def log_files(node: Any) -> List[Any]:
    from pathlib import Path

    base = Path(node.env["RABBITMQ_LOG_BASE"])
    return sorted(base.glob("*.log"))


def precondition_failures(cluster: Cluster, numbers: Set[int]) -> List[str]:
    lines: List[str] = []
    for node in cluster.nodes:
        if node.number not in numbers:
            continue
        for path in log_files(node):
            text = path.read_text(errors="replace")
            lines.extend(line for line in text.splitlines()
                         if "PRECONDITION_FAILED" in line and "delivery tag" in line)
    return lines


def apply_fault(driver: Driver, cluster: Cluster, fault: str, number: int) -> float:
    """Fault node ``number``; return the instant the fault took effect (kill, freeze: the
    signal; stop_app: when rabbitmqctl is started, the node closes our link while it runs)."""
    if fault == "kill":
        return cluster.kill(number)
    if fault == "freeze":
        return cluster.freeze(number)
    assert fault == "stop_app"
    started = time.monotonic()
    in_thread(driver, lambda: cluster.stop_app(number), f"stop_app of node {number}")
    return started


def heal(driver: Driver, cluster: Cluster, number: int) -> None:
    """Bring node ``number`` back into the cluster (the loop keeps running meanwhile); a node
    frozen past net_ticktime is killed first (``Cluster.restore``)."""
    in_thread(driver, cluster.restore, f"node {number} back in the cluster", timeout=300.0)


def away_from(avoid: List[int]) -> Callable[[Sequence[Parameters], Optional[Parameters]],
                                         List[Parameters]]:
    """An ``endpoint_order``: every endpoint but the node on port ``avoid[0]`` (the quorum
    queue's leader, as last seen: the test updates it before each fault), the one just lost
    last. RabbitMQ 3.10 gives a channel opened after the leader's node died or froze no
    confirm (or nacks) for 30 s and more (docs/recovery.md), so the next fault must not hit
    the leader's node: the client never recovers onto it (not even after a stalled restore
    moved it on), and the fault always hits the client's node."""
    def order(endpoints: Sequence[Parameters], lost: Optional[Parameters]) -> List[Parameters]:
        chosen = [e for e in endpoints if e.port != avoid[0]] or list(endpoints)
        return sorted(chosen, key=lambda e: e is lost)
    return order


@pytest.mark.allow_error_logs  # a node lost takes the confirms in flight (logged as lost)
@pytest.mark.parametrize("client, fault", COMBINATIONS, indirect=["client"],
                         ids=[f"{flavour}-{fault}" for flavour, fault in COMBINATIONS])
def test_client_resumes_on_another_node_and_keeps_every_promise(
    client: CallbackApi, cluster: Cluster, fault: str
) -> None:
    api, driver = client, client.driver
    first = FIRST_NODE.get(api.name, 1)
    # The queue's leader is on another node than the client's, and stays off the client's
    # path (away_from): see there.
    leader = 1 + first % 3
    avoid = [cluster.node(leader).port]
    endpoints = cluster.parameters(heartbeat=HEARTBEAT, socket_timeout=2.0, stack_timeout=5.0)
    # The connection's own parameters are one of the endpoints (the same object): the
    # endpoint just lost is tried last (protocol/recovery.py: cycle_order matches by identity).
    conn, events = api.connect(endpoints[first - 1], Recovery(
        endpoints=endpoints, endpoint_order=away_from(avoid),
        initial_delay=0.05, max_delay=0.5, restore_timeout=RESTORE_TIMEOUT))
    publisher = api.channel(conn)
    consumer = api.channel(conn)
    api.confirm(publisher)
    quorum = f"cluster-recovery-{uuid.uuid4().hex[:12]}"
    with BlockingConnection(cluster.node(leader).parameters()) as helper:
        helper.channel().queue_declare(quorum, durable=True, arguments=QUORUM)
    api.rpc(consumer, "queue_declare", quorum, durable=True, arguments=QUORUM)
    server_named = [str(api.rpc(consumer, "queue_declare", "", exclusive=True).method.queue)]
    api.rpc(consumer, "basic_qos", prefetch_count=50)
    closed_channels: List[Any] = []
    for channel in (publisher, consumer):
        channel.add_on_close_callback(lambda ch, r: closed_channels.append(r))
    lost_reports: List[Any] = []
    api.on_confirms_lost(publisher, lambda ch, exc: lost_reports.append(exc))

    received: List[int] = []
    named_received: List[bytes] = []
    last_tag: List[int] = []

    def on_quorum(channel: Any, method: Any, body: bytes) -> None:
        received.append(int(body))
        last_tag[:] = [method.delivery_tag]
        channel.basic_ack(method.delivery_tag)

    def on_named(channel: Any, method: Any, body: bytes) -> None:
        named_received.append(bytes(body))
        channel.basic_ack(method.delivery_tag)

    api.consume(consumer, quorum, "quorum-consumer", on_quorum)
    api.consume(consumer, server_named[0], "named-consumer", on_named)

    outcomes: Dict[int, List[Any]] = {}
    settled_at: Dict[int, float] = {}
    published_at: Dict[int, float] = {}
    sent = [0]
    refused = [0]
    publishing = [True]

    def outcome_of(number: int) -> Callable[[Any], None]:
        def settle(outcome: Any) -> None:
            outcomes[number].append(outcome)
            settled_at.setdefault(number, time.monotonic())
        return settle

    def publish_batch() -> None:
        if not publishing[0]:
            return
        for _ in range(10):
            number = sent[0]
            outcomes[number] = []
            try:
                api.publish(publisher, quorum, str(number).encode(), outcome_of(number))
            except REFUSED:
                del outcomes[number]
                refused[0] += 1
                break
            published_at[number] = time.monotonic()
            sent[0] += 1
        driver.call_later(0.01, publish_batch)

    publish_batch()
    label = f"[{api.name}/{fault}]"
    on_node = first
    for run in range(RUNS):
        floor = sent[0] + 100
        driver.run_until(lambda: sent[0] >= floor and last_tag, timeout=20,
                         what=f"traffic before fault {run + 1}")
        stale = last_tag[0]
        on_node = node_of(cluster, conn.params)
        # where the quorum queue's leader is now: a restarted member may have won an election
        # meanwhile, and a fault of the leader's node makes the restore wait for the next one
        leading = in_thread(driver, lambda: cluster.quorum_leader(quorum), "the queue's leader")
        avoid[0] = cluster.node(leading).port
        attempts_before = len(events["attempt"])
        faulted_at = apply_fault(driver, cluster, fault, on_node)
        driver.run_until(lambda: len(events["ok"]) == run + 1,
                         timeout=90 if fault == "freeze" else 60,
                         what=f"recovery {run + 1} after {fault} of node {on_node}")
        resumed_at, report = events["ok"][-1]
        new_node = node_of(cluster, conn.params)
        assert new_node != on_node, (new_node, on_node)
        assert report.consumers_resumed == 2, report
        assert report.endpoint.port == cluster.node(new_node).port
        # the first publish made on the new link and confirmed
        first_new = sent[0]
        def acked_since() -> List[float]:
            return [settled_at[n] for n in list(outcomes) if n >= first_new and n in settled_at
                    and api.is_ack(outcomes[n][0])]
        driver.run_until(acked_since, timeout=30, what="a publish acked on the new node")
        confirmed_at = min(acked_since())
        driver.run_until(lambda: last_tag and last_tag[0] > stale, timeout=30,
                         what="a delivery of the new incarnation")
        with pytest.raises(exceptions.StaleDeliveryTagError):
            consumer.basic_ack(stale)
        with pytest.raises(exceptions.StaleDeliveryTagError):
            consumer.basic_ack(stale, multiple=True)
        stalled = [a for a in events["attempt"][attempts_before:]
                   if isinstance(a[2], exceptions.TopologyRecoveryError)]
        record_measurement(f"{label} fault -> consumers resumed (s)", resumed_at - faulted_at)
        record_measurement(f"{label} fault -> first confirmed publish on another node (s)",
                           confirmed_at - faulted_at)
        # when the last step before the consumers ended (the server-named queue's rename)
        renamed_at = events["renamed_at"][-1] if events["renamed_at"] else faulted_at
        print(f"\nRUN {label} run={run + 1} node {on_node}->{new_node} leader={leading} "
              f"resumed={resumed_at - faulted_at:.3f}s "
              f"(queues restored at {renamed_at - faulted_at:.3f}s) "
              f"first_confirmed={confirmed_at - faulted_at:.3f}s "
              f"attempts_failed={len(events['attempt']) - attempts_before} "
              f"restore_timeouts={len(stalled)}")
        if run + 1 < RUNS:
            heal(driver, cluster, on_node)
    publishing[0] = False
    driver.run_until(lambda: all(outcomes.values()), timeout=30, what="every publish settled")

    # every publish ended exactly once: ack, nack or ConfirmLostError; none pending
    kinds = {"acked": 0, "nacked": 0, "lost": 0}
    acked: Set[int] = set()
    for number, outcome in outcomes.items():
        assert len(outcome) == 1, (number, outcome)
        if isinstance(outcome[0], exceptions.ConfirmLostError):
            kinds["lost"] += 1
        elif isinstance(outcome[0], exceptions.NackError):
            kinds["nacked"] += 1
        else:
            assert api.is_ack(outcome[0]), outcome
            kinds["acked"] += 1
            acked.add(number)
    reported = [tag for exc in lost_reports for tag in exc.delivery_tags]
    assert len(reported) == len(set(reported)) == kinds["lost"]
    # 0 acked messages lost: the resumed consumer gets every one (the quorum queue keeps
    # them across the loss of a member; unacked deliveries of the old link are redelivered)
    driver.run_until(lambda: acked <= set(received), timeout=30,
                     what="every acked message consumed from the quorum queue")
    # the server-named exclusive queue died with its link and came back renamed, once per
    # fault (and at most once more per attempt abandoned by restore_timeout, which may come
    # after the rename), each rename from the name before, and its consumer followed the new
    # name
    renamed = events["renamed"]
    timeouts = sum(isinstance(a[2], exceptions.TopologyRecoveryError) for a in events["attempt"])
    assert RUNS <= len(renamed) <= RUNS + timeouts, (renamed, timeouts)
    assert renamed[0][0] == server_named[0]
    assert all(later[0] == earlier[1] for earlier, later in zip(renamed, renamed[1:])), renamed
    new_name = renamed[-1][1]
    assert new_name != server_named[0]
    # one consumer per registration, asked of a live node. A quorum queue keeps the consumer
    # of a channel on a node that went down as "suspected down" until that node is back
    # (RabbitMQ: quorum queues tolerate partitions); such rows are the old link's, on the
    # faulted node, and are not counted.
    live = node_of(cluster, conn.params)
    listing = in_thread(driver, lambda: cluster.ctl(
        live, "list_consumers", "-q", "--no-table-headers", "queue_name", "channel_pid",
        "consumer_tag"), "rabbitmqctl list_consumers")
    rows = [tuple(part.strip() for part in line.split("\t"))
            for line in listing.splitlines() if line.strip()]
    faulted_names = [cluster.node(n).name for n in cluster.faulted]
    ours = sorted((queue, tag) for queue, pid, tag in rows if queue in (quorum, new_name)
                  and not any(name in pid for name in faulted_names))
    assert ours == sorted([(quorum, "quorum-consumer"), (new_name, "named-consumer")]), listing
    # stale acks sent nothing: no channel closed, no 406 in a live node's log
    assert closed_channels == [] and events["close"] == []
    alive = {n.number for n in cluster.nodes if n.number not in cluster.faulted}
    assert precondition_failures(cluster, alive) == []
    assert len(events["started"]) == RUNS and not events["failed"]
    assert events["recovered_failed"] == []
    assert events["recovering_when_recovered"] == [False] * RUNS
    found = api.rpc(publisher, "queue_declare", quorum, passive=True).method.message_count
    record_measurement(f"{label} published", float(sent[0]))
    record_measurement(f"{label} acked", float(kinds["acked"]))
    record_measurement(f"{label} nacked", float(kinds["nacked"]))
    record_measurement(f"{label} ConfirmLostError", float(kinds["lost"]))
    record_measurement(f"{label} found (consumed distinct + ready)",
                       float(len(set(received)) + int(found)))
    print(f"\nTOTAL {label} runs={RUNS} published={sent[0]} refused={refused[0]} {kinds} "
          f"consumed_distinct={len(set(received))} ready={found} "
          f"durations={[round(rep.duration, 3) for _, rep in events['ok']]}")
    api.rpc(publisher, "queue_delete", quorum)
    api.close(conn)
    driver.run_until(lambda: events["close"], timeout=15, what="the final close")
    assert len(events["close"]) == 1
    assert isinstance(events["close"][0], exceptions.ConnectionClosedByClient)


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@pytest.mark.allow_error_logs  # recovery failing logs at ERROR
def test_recovery_gives_up_when_every_endpoint_stays_down(
    driver: Driver, cluster: Cluster
) -> None:
    name = f"gives-up-{uuid.uuid4().hex[:12]}"
    away = [ConnectionParameters("127.0.0.1", _closed_port(), socket_timeout=1.0)
            for _ in range(3)]
    give_up_after = 1.5
    events: Dict[str, List[Any]] = {k: [] for k in ("open", "close", "failed", "attempt")}
    conn: Connection = driver.connection_class(
        parameters=cluster.node(2).parameters(client_properties={"connection_name": name}),
        on_open_callback=events["open"].append,
        on_close_callback=lambda c, r: events["close"].append((time.monotonic(), r)),
        recovery=Recovery(endpoints=away, initial_delay=0.05, max_delay=0.2,
                          give_up_after=give_up_after),
        **{driver.loop_argument: driver.loop},
    )
    driver.connections.append(conn)
    conn.add_on_recovery_failed_callback(lambda c, e: events["failed"].append(e))
    conn.add_on_recovery_attempt_failed_callback(lambda *a: events["attempt"].append(a[1:]))
    driver.run_until(lambda: events["open"], 20.0, what="the connection to open")
    cut = [0.0]

    def close_ours() -> None:
        cut[0] = time.monotonic()
        cluster.ctl(2, "close_all_connections", "cluster recovery test: every endpoint down")

    in_thread(driver, close_ours, "close_all_connections")
    driver.run_until(lambda: events["close"], timeout=20, what="recovery to give up")
    closed_at, reason = events["close"][0]
    assert isinstance(reason, exceptions.RecoveryFailedError), reason
    assert events["failed"] == [reason]
    assert len(events["attempt"]) >= 3
    assert {a[1].port for a in events["attempt"]} <= {p.port for p in away}
    assert all(isinstance(a[2], exceptions.AMQPConnectionError) for a in events["attempt"])
    assert closed_at - cut[0] >= give_up_after - 0.1
    assert conn.is_closed and not conn.recovering
    driver.run_for(0.3)
    assert len(events["close"]) == 1  # on_close once, only on the final close

