"""StreamWindow: the mbox splitter over a decompressed stream holds one message, not the stream."""

from __future__ import annotations

import io

import pytest

from forensics.errors import ReadError
from forensics.ingest import mbox
from forensics.ingest.stream import StreamWindow

CHUNK = 4096
LIMIT = 64 * 1024  # ~50 messages' worth: far less than the 200 messages below


def messages(count: int) -> bytes:
    return b"".join(
        b"From sender@example.com Mon Jan  1 10:00:00 2024\nFrom: sender@example.com\n"
        + f"Subject: message {n}\n\n".encode() + b"body line\n" * 100 + b"\n"
        for n in range(count)
    )


class CountingStream(io.BytesIO):
    """A stream that records the furthest byte handed out."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed = 0

    def read(self, size: int | None = -1, /) -> bytes:
        block = super().read(size)
        self.handed += len(block)
        return block


class WatchedWindow(StreamWindow):
    """Records the most bytes the window ever held at once."""

    held = 0

    def _fill_to(self, end: int) -> None:
        super()._fill_to(end)
        WatchedWindow.held = max(WatchedWindow.held, len(self._data))


def test_a_stream_many_times_the_limit_is_cut_whole_holding_a_few_blocks() -> None:
    """Until session 5 ``find`` read a block ahead at every call: the window grew by a block per
    message and raised "one message that large is not read" after ~16 of these messages."""
    data = messages(200)
    WatchedWindow.held = 0
    window = WatchedWindow(CountingStream(data), len(data), chunk=CHUNK, limit=LIMIT)
    spans = list(mbox.iter_spans(window, 0, len(window), b"\n"))
    assert len(spans) == 200
    assert [s.start for s in spans] == [s.start for s in mbox.iter_spans(data, 0, len(data), b"\n")]
    assert spans[-1].end == len(data) == 219_290
    assert WatchedWindow.held <= 2 * CHUNK + 1_200  # a message (~1,100 bytes) and the block read after it


def test_find_reads_no_further_than_the_match() -> None:
    data = b"a" * 10_000 + b"NEEDLE" + b"b" * 100_000
    stream = CountingStream(data)
    window = StreamWindow(stream, len(data), chunk=CHUNK)
    assert window.find(b"NEEDLE") == 10_000
    assert stream.handed == 3 * CHUNK  # the blocks up to the match, none after
    assert window.find(b"NEEDLE", 0) == 10_000  # found again in the bytes held: nothing read
    assert stream.handed == 3 * CHUNK


def test_find_across_a_block_boundary_and_a_miss_at_the_end() -> None:
    data = b"x" * (CHUNK - 3) + b"From " + b"y" * 100
    window = StreamWindow(io.BytesIO(data), len(data), chunk=CHUNK)
    assert window.find(b"From ") == CHUNK - 3
    assert window.find(b"absent", CHUNK) == -1
    assert window.find(b"y", 0, CHUNK) == -1  # the end bound is kept


def test_a_stream_shorter_than_declared_shrinks_and_says_by_how_much() -> None:
    window = StreamWindow(io.BytesIO(b"abc"), 10, chunk=CHUNK)
    assert window.find(b"z") == -1
    assert (len(window), window.short_by) == (3, 7)


def test_one_message_past_the_limit_is_still_refused() -> None:
    data = b"From a@b Mon Jan  1 10:00:00 2024\nFrom: a@b\n\n" + b"z" * (2 * LIMIT)
    window = StreamWindow(io.BytesIO(data), len(data), chunk=CHUNK, limit=LIMIT)
    with pytest.raises(ReadError, match="one message that large is not read"):
        list(mbox.iter_spans(window, 0, len(window), b"\n"))
