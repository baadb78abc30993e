"""``wirewatch poll``: RSS and Atom feeds to the ``articles`` topic.

Plain-Python core: :mod:`.feeds` (the feeds file), :mod:`.items` (feed bytes to article dicts, stable
ids), :mod:`.seen` (what was published, kept across restarts), :mod:`.schedule` (intervals, jitter,
backoff). I/O apart: :mod:`.fetch` (conditional HTTP GET, size cap, timeout) and :mod:`.runner`
(the loop, the Kafka producer, metrics over HTTP).
"""
