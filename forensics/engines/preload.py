"""Imported once by the local engine's forkserver, before it forks any worker.

Each worker then starts with the knowledge base compiled and the public-suffix list read
(shared copy-on-write pages, ~8 MB) instead of spending a few tenths of a second of CPU on
its first message: with two workers that is paid once, not per worker and per pool.
"""

from forensics.engines.shard import warm

warm()
