"""Benchmarks: in-process pipeline throughput, end to end through Kafka, baselines, memory."""
