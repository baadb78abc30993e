"""The chunk partitioner agrees with aiokafka's ``DefaultPartitioner`` (Kafka's, murmur2 of the key)."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner, murmur2

from streams.service.partitioning import key_hashes, partition_of


def test_key_hashes_are_kafkas_murmur2_for_keys_of_every_length() -> None:
    rng = random.Random(7)
    keys = [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 130) for _ in range(8)]
    keys += [b"bench-1", "Pyongyang–Seoul ✓".encode(), b"https://www.reuters.com/world/asia/kp-missile-2026/"]
    hashes = key_hashes(keys + keys[:50])  # repeated keys: one hash each
    assert len(hashes) == len(set(keys))
    assert all(hashes[k] == murmur2(k) & 0x7FFFFFFF for k in keys)
    assert key_hashes([]) == {}


def test_partition_of_is_the_default_partitioners_choice() -> None:
    partitioner = DefaultPartitioner()
    keys = [f"article-{i}".encode() for i in range(300)]
    hashes = key_hashes(keys)
    for partitions in ([0, 1], [0, 1, 2], [0, 1, 2, 3, 4, 5, 6, 7], [3, 5, 9]):
        for key in keys:
            assert partition_of(key, partitions, hashes) == partitioner(key, partitions, partitions)
    assert partition_of(b"not hashed", [4], {}) == 4  # one partition: no hash needed
    assert {partition_of(None, [0, 1, 2], hashes) for _ in range(200)} == {0, 1, 2}  # keyless: random
