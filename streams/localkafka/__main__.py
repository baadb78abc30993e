"""`python -m streams.localkafka start|stop|status`, the same as `wirewatch kafka ...`."""

import sys

from streams.localkafka.cli import kafka_command

if __name__ == "__main__":
    sys.exit(kafka_command(sys.argv[1:]))
