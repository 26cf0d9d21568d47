"""Conformance suite: the documented API against a real RabbitMQ, once per event loop."""
