"""Stage 1 helper: a forward-only window over a stream that the mbox splitter can use as a buffer.

An mbox inside a zip or tar member cannot be mapped: it is decompressed on the fly.
``StreamWindow`` offers the few buffer operations the splitter uses (``len``,
slicing, ``find``) over such a stream, keeping in memory only the bytes between the
last released position and the furthest byte looked at, so memory stays bounded by
the size of the message being cut, not of the mailbox; ``limit`` bounds even that (a
decompression bomb may be one endless "message").
"""

from __future__ import annotations

from typing import Protocol

from forensics.errors import ReadError

CHUNK = 1 << 20


class Readable(Protocol):
    """What the window needs of a stream: ``read(n)`` giving at most n bytes, b"" at the end."""

    def read(self, size: int = ..., /) -> bytes: ...


class StreamWindow:
    """Bytes ``[base, base + len(data))`` of a stream of (declared) length ``size``."""

    def __init__(self, stream: Readable, size: int, chunk: int = CHUNK, limit: int | None = None) -> None:
        self._stream = stream
        self._size = size
        self._chunk = chunk
        self._limit = limit
        self._base = 0
        self._data = bytearray()
        self.short_by = 0  # bytes the stream ended before its declared size

    def __len__(self) -> int:
        return self._size

    def _loaded_end(self) -> int:
        return self._base + len(self._data)

    def _fill_to(self, end: int) -> None:
        while self._loaded_end() < min(end, self._size):
            block = self._stream.read(max(self._chunk, min(end, self._size) - self._loaded_end()))
            if not block:  # the stream is shorter than declared: shrink to what exists
                self.short_by = self._size - self._loaded_end()
                self._size = self._loaded_end()
                return
            if self._limit is not None and len(self._data) + len(block) > self._limit:
                raise ReadError(f"over {self._limit} bytes of the stream would be held at once "
                                f"(from byte {self._base}): one message that large is not read")
            self._data += block

    def __getitem__(self, key: slice) -> bytes:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("StreamWindow supports plain slices only")
        start = 0 if key.start is None else max(key.start, 0)
        stop = self._size if key.stop is None else min(key.stop, self._size)
        if start < self._base:
            raise ReadError(f"stream window asked for released byte {start} (base {self._base})")
        self._fill_to(stop)
        return bytes(self._data[start - self._base : max(stop, start) - self._base])

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        """Like ``bytes.find``, loading more of the stream only when the bytes held lack the match.

        A block is read only after the bytes held were searched: reading one ahead at every
        call (as this did until session 5) made the window grow by a block per message cut,
        so an mbox member past the limit (320 MiB) stopped after a few hundred messages with
        "one message that large is not read", and a smaller one was held whole."""
        start = max(start, self._base)
        searched_from = start
        while True:
            limit = self._size if end is None else min(end, self._size)  # shrinks if the stream is short
            stop = min(limit, self._loaded_end())
            if stop > searched_from:
                hit = self._data.find(sub, searched_from - self._base, stop - self._base)
                if hit >= 0:
                    return hit + self._base
            if stop >= limit:
                return -1
            searched_from = max(start, stop - len(sub) + 1)
            self._fill_to(min(limit, self._loaded_end() + self._chunk))

    def release(self, upto: int) -> None:
        """Forget the bytes before ``upto``: the splitter will never look back there."""
        drop = min(upto, self._loaded_end()) - self._base
        if drop > 0:
            del self._data[:drop]
            self._base += drop
