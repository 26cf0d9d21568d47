"""``amqpbase.adapters.utils.connection_workflow``: pika's import path for the workflow.

pika programs import the workflow's names from ``pika.adapters.utils.connection_workflow``
(``AMQPConnectionWorkflowFailed``, ``AMQPConnectionWorkflowAborted``, ...), so this module
re-exports :mod:`amqpbase.connection_workflow` under the same path. A pure re-export: the
classes live in ``amqpbase.connection_workflow`` and ``amqpbase.exceptions``; add nothing here.
"""

from amqpbase.connection_workflow import (
    AbstractAMQPConnectionWorkflow,
    AMQPConnectionWorkflow,
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
