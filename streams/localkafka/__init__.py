"""A real local Apache Kafka (single-node KRaft) for development and integration tests.

`wirewatch kafka start|stop|status` fetches the broker jars once with Maven and runs them with Java;
no Docker, no downloaded distribution.
"""

from streams.localkafka.admin import create_topics
from streams.localkafka.cli import add_kafka_parser, kafka_command
from streams.localkafka.config import ConfigError, KafkaConfig
from streams.localkafka.jars import ToolMissingError
from streams.localkafka.manager import KafkaStartError, KafkaStatus, LocalKafka, StartResult

__all__ = [
    "ConfigError",
    "KafkaConfig",
    "KafkaStartError",
    "KafkaStatus",
    "LocalKafka",
    "StartResult",
    "ToolMissingError",
    "add_kafka_parser",
    "create_topics",
    "kafka_command",
]
