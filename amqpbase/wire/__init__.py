"""The AMQP 0-9-1 wire: frames, constants, struct formats, encoding and decoding.

One module per responsibility, each importing only ``amqpbase.spec``, ``fieldtable``,
``exceptions``, ``amqp_object`` and the modules listed above it (never below, never a private
name; ``tests/unit/test_wire_imports.py`` enforces it):

- :mod:`~amqpbase.wire.formats`: wire constants and precompiled structs (no logic);
- :mod:`~amqpbase.wire.encode`: method and content frame encoding (the publish fast path);
- :mod:`~amqpbase.wire.frames`: the frame objects (``Method`` ... ``Delivery``);
- :mod:`~amqpbase.wire.packs`: the channel's per-message packs (publish pieces, ack/nack/reject);
- :mod:`~amqpbase.wire.delivery`: the Basic.Deliver fast path of the decoder;
- :mod:`~amqpbase.wire.decoder`: ``FrameDecoder``, bytes from the broker to frame objects.

This package knows no connection, channel, socket or clock, and imports none of them.
``amqpbase.frame`` re-exports the pika-compatible names; this ``__init__`` imports nothing.
"""
