"""pika's ``pika.adapters.utils`` package path: only what pika programs import from it
(``connection_workflow``). No code of its own."""
