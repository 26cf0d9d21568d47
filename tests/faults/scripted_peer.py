"""A scripted AMQP peer on loopback: a fake broker that misbehaves on purpose (issue 6).

The one scripted peer of the tree: the fault suite's bad-peer tests, the transport suite
(``tests/transport``, plain TCP and TLS) and the conformance open-error tests (a peer that
refuses our version or is not AMQP at all) all script this class.

:class:`ScriptedPeer` listens on ``127.0.0.1`` and serves ONE client connection in a thread.
It speaks through amqpbase's own codec (``amqpbase.frame`` builds and parses every frame, so
the peer's well-formed frames are exactly what the client's decoder expects), runs a script
the test gives it, then records how the client reacts:

1. read the client's 8-byte protocol header;
2. run ``script(peer)`` — typically :meth:`ScriptedPeer.handshake` (Connection.Start, Tune,
   Open-Ok, answering the client's StartOk, TuneOk and Open), :meth:`ScriptedPeer.expect`
   to wait for a client method (e.g. Channel.Open, answered with Channel.Open-Ok), then the
   bad bytes (:meth:`ScriptedPeer.send_raw`) or an early end of stream
   (:meth:`ScriptedPeer.shutdown_write`);
3. read everything the client sends until it closes the socket (EOF), answering a
   Channel.Close or Connection.Close with its Close-Ok the way RabbitMQ does (AMQP 0-9-1 section
   2.2.4: the peer that receives Close replies Close-Ok; the peer that sent Close then closes
   the socket). The peer itself never closes first unless the script said so, so
   :attr:`ScriptedPeer.client_eof` proves that the CLIENT closed the socket.

With ``tls`` (a server-side :class:`ssl.SSLContext`, e.g. ``tests/pki.py``'s
``server_context``, which requires a client certificate) the peer does the TLS handshake
first and records the SNI name the client sent (:attr:`ScriptedPeer.sni`; the peer sets the
context's ``sni_callback``) and the subject of its certificate
(:attr:`ScriptedPeer.client_subject`); a handshake that fails on either side ends the peer
quietly (:attr:`ScriptedPeer.tls_failed`, before any AMQP byte). The transport suite
(``tests/transport/``) uses the same peer on every loop.

Everything the client sent is decoded into :attr:`ScriptedPeer.frames`; the Connection.Close
methods among them are :attr:`ScriptedPeer.closes`. An exception in the peer thread (a
client frame that does not decode, a timeout waiting for the client) is kept in
:attr:`ScriptedPeer.error` and re-raised by :meth:`ScriptedPeer.check`.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from typing import Any, Callable, List, Optional, Tuple, Type

from amqpbase import frame, spec

#: The byte that ends every frame (AMQP 0-9-1 section 4.2.3).
FRAME_END = b"\xce"

#: Seconds the peer waits for any one thing from the client before giving up.
PEER_TIMEOUT = 5.0


def raw_frame(frame_type: int, channel: int, payload: bytes, end: bytes = FRAME_END) -> bytes:
    """One frame as bytes (type, channel, size, payload, end octet), with any ``end``: how a
    test builds a frame the codec would refuse to encode."""
    return struct.pack("!BHI", frame_type, channel, len(payload)) + payload + end


def method_frame(channel: int, method: Any) -> bytes:
    """A well-formed method frame, encoded by amqpbase's codec."""
    return bytes(frame.encode_method_frame(channel, method))


def content_frames(channel: int, method: Any, properties: Any, body: bytes,
                   frame_max: int = 131072) -> List[bytes]:
    """Method, content header and body frames of one content method, each frame separately
    (so a test can drop, move or alter one)."""
    data = b"".join(bytes(chunk) for chunk in frame.encode_content_frames(
        channel, method, properties, body, frame_max))
    frames: List[bytes] = []
    position = 0
    while position < len(data):
        size = struct.unpack_from("!I", data, position + 3)[0]
        frames.append(data[position:position + size + 8])
        position += size + 8
    return frames


class PeerError(AssertionError):
    """The scripted peer could not follow its script (reported to the test)."""


class ScriptedPeer:
    """A one-connection loopback AMQP server that runs ``script`` (see the module docstring).

    ``answer_close``: reply Connection.Close-Ok to the client's Connection.Close (default; a
    RabbitMQ node does). ``eof_timeout``: how long, after the script, the peer waits for the
    client to close the socket.
    """

    def __init__(self, script: Callable[["ScriptedPeer"], None], answer_close: bool = True,
                 eof_timeout: float = PEER_TIMEOUT,
                 tls: Optional[ssl.SSLContext] = None) -> None:
        self.script = script
        self.tls = tls
        #: The TLS handshake failed (with ``tls``): the client refused the server, or the
        #: peer refused the client (no certificate, say); the error the peer's side saw.
        self.tls_failed: Optional[BaseException] = None
        #: The SNI name of each ClientHello (None: the client sent no SNI), with ``tls``.
        self.sni: List[Optional[str]] = []
        #: The subject of the client's certificate as ``getpeercert()`` gives it (a tuple of
        #: RDNs), after a TLS handshake in which the client presented one.
        self.client_subject: Optional[Tuple[Any, ...]] = None
        if tls is not None:
            tls.sni_callback = self._record_sni
        self.answer_close = answer_close
        self.eof_timeout = eof_timeout
        #: The client's first 8 bytes (its protocol header).
        self.protocol_header = b""
        #: Every frame the client sent after its protocol header, decoded, in order.
        self.frames: List[Any] = []
        #: True once the client closed its end of the socket (recv returned b"").
        self.client_eof = False
        #: monotonic() when the peer saw the client's first Connection.Close / its EOF.
        self.close_seen_at: Optional[float] = None
        self.eof_at: Optional[float] = None
        self.error: Optional[BaseException] = None
        self.done = threading.Event()
        self._decoder = frame.FrameDecoder(0)
        self._pending: List[Any] = []  # decoded, not yet consumed by expect()
        self._conn: Optional[socket.socket] = None
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self._listener.settimeout(PEER_TIMEOUT)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name=f"scripted-peer-{self.port}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ results

    @property
    def closes(self) -> List[Any]:
        """The Connection.Close methods the client sent (normally at most one)."""
        return [f.method for f in self.frames
                if isinstance(f, frame.Method) and isinstance(f.method, spec.Connection.Close)]

    def methods(self) -> List[Any]:
        """Every method the client sent after its protocol header."""
        return [f.method for f in self.frames if isinstance(f, frame.Method)]

    def check(self) -> None:
        """Raise what went wrong in the peer thread, if anything."""
        if self.error is not None:
            raise PeerError(f"scripted peer failed: {self.error!r}") from self.error

    def close(self) -> None:
        """Stop serving (idempotent); closes both sockets and joins the thread."""
        self._listener.close()
        conn = self._conn
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
        self._thread.join(PEER_TIMEOUT)

    # ------------------------------------------------------------------ script verbs

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        assert self._conn is not None
        self._conn.sendall(data)

    def send(self, channel: int, method: Any) -> None:
        """Send one well-formed method frame."""
        self.send_raw(method_frame(channel, method))

    def shutdown_write(self) -> None:
        """End the stream towards the client (FIN) while still reading what it sends."""
        assert self._conn is not None
        self._conn.shutdown(socket.SHUT_WR)

    def hang_up(self, reset: bool = False) -> None:
        """Close the connection's socket now: a FIN, or with ``reset`` an RST (``SO_LINGER``
        on with a zero timeout makes ``close()`` abort the connection)."""
        assert self._conn is not None
        if reset:
            self._conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._conn.close()

    def expect(self, method_class: Type[Any], timeout: float = PEER_TIMEOUT) -> Any:
        """Wait for the client's next method frame; it must be a ``method_class``. Returns
        the frame (``frame.Method``). Heartbeats in between are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            while self._pending:
                got = self._pending.pop(0)
                if isinstance(got, frame.Heartbeat):
                    continue
                if isinstance(got, frame.Method) and isinstance(got.method, method_class):
                    return got
                raise PeerError(f"expected {method_class.NAME}, the client sent {got!r}")
            if not self._read(deadline):
                raise PeerError(f"the client closed the socket; expected {method_class.NAME}")

    def handshake(self, frame_max: int = 131072, channel_max: int = 2047,
                  heartbeat: int = 0) -> None:
        """Connection.Start → (StartOk) → Tune → (TuneOk, Open) → Open-Ok, as RabbitMQ."""
        self.send(0, spec.Connection.Start(
            version_major=0, version_minor=9,
            server_properties={"product": "scripted-peer", "capabilities": {
                "publisher_confirms": True, "basic.nack": True,
                "consumer_cancel_notify": True, "authentication_failure_close": True}},
            mechanisms=b"PLAIN", locales=b"en_US"))
        self.expect(spec.Connection.StartOk)
        self.send(0, spec.Connection.Tune(channel_max=channel_max, frame_max=frame_max,
                                          heartbeat=heartbeat))
        self.expect(spec.Connection.TuneOk)
        self.expect(spec.Connection.Open)
        self.send(0, spec.Connection.OpenOk(known_hosts=""))

    def open_channel(self) -> int:
        """Wait for the client's Channel.Open and answer Channel.Open-Ok; returns its number."""
        opened = self.expect(spec.Channel.Open)
        self.send(opened.channel_number, spec.Channel.OpenOk())
        return int(opened.channel_number)

    # ------------------------------------------------------------------ the thread

    def _read(self, deadline: float) -> bool:
        """Receive once (until ``deadline``) and decode; False at the client's EOF."""
        conn = self._conn
        assert conn is not None
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = conn.recv(65536)
        except socket.timeout:
            raise PeerError("the client sent nothing before the peer's deadline") from None
        except ConnectionResetError:
            data = b""  # an abortive close (RST) is also the client closing the socket
        if not data:
            self.client_eof = True
            self.eof_at = time.monotonic()
            return False
        decoded = self._decoder.feed(data)
        self.frames.extend(decoded)
        self._pending.extend(decoded)
        for got in decoded:
            if (self.close_seen_at is None and isinstance(got, frame.Method)
                    and isinstance(got.method, spec.Connection.Close)):
                self.close_seen_at = time.monotonic()
        return True

    def _drain(self) -> None:
        """After the script: read until the client's EOF, answering its Channel.Close and
        Connection.Close with Close-Ok (when ``answer_close``)."""
        deadline = time.monotonic() + self.eof_timeout
        while True:
            pending, self._pending = self._pending, []
            for got in pending:
                if not (self.answer_close and isinstance(got, frame.Method)):
                    continue
                reply: Any = None
                if isinstance(got.method, spec.Channel.Close):
                    reply = spec.Channel.CloseOk()
                elif isinstance(got.method, spec.Connection.Close):
                    reply = spec.Connection.CloseOk()
                if reply is not None:
                    try:
                        self.send(got.channel_number, reply)
                    except OSError:
                        pass  # the client may already have dropped the socket
            if not self._read(deadline):
                return

    def _record_sni(self, tls: Any, name: Optional[str], context: ssl.SSLContext) -> None:
        self.sni.append(name)

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
            if self.tls is not None:
                conn.settimeout(PEER_TIMEOUT)
                try:
                    tls_conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as refused:
                    self.tls_failed = refused
                    conn.close()
                    return
                certificate = tls_conn.getpeercert()  # {} or None: no client certificate
                subject = certificate.get("subject") if certificate else None
                if isinstance(subject, tuple):
                    self.client_subject = subject
                conn = tls_conn
            self._conn = conn
            deadline = time.monotonic() + PEER_TIMEOUT
            while len(self.protocol_header) < 8:
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = conn.recv(8 - len(self.protocol_header))
                if not chunk:
                    raise PeerError(f"EOF after {self.protocol_header!r}")
                self.protocol_header += chunk
            self.script(self)
            self._drain()
        except BaseException as error:  # noqa: BLE001 - reported to the test by check()
            self.error = error
        finally:
            self._listener.close()
            self.done.set()
