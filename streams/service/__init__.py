"""Streaming wiring: Faust app, topics, agents, metrics, web views and the CLI commands that talk to Kafka."""
