"""Release one camera's items in seq order, waiting a bounded time for stragglers."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class SeqReorderer(Generic[T]):
    """Releases items of one camera in seq order.

    ``push(seq, item, now_ms)`` buffers; ``pop_ready(now_ms)`` returns ``(seq, item)`` pairs in order:
    the consecutive ones from ``next_seq``, and when the oldest buffered item (by arrival) has waited
    longer than ``window_ms`` or more than ``max_items`` are buffered, the missing seqs are given up
    (they become gaps, counted in ``gaps``) and release goes on. Items with ``seq < next_seq`` and
    repeats of a buffered seq are dropped and counted in ``late``. The first pushed seq sets
    ``next_seq`` when the constructor did not.
    """

    def __init__(self, window_ms: int = 250, max_items: int = 16, next_seq: int | None = None) -> None:
        if window_ms < 0 or max_items < 1:
            raise ValueError(f"need window_ms >= 0 and max_items >= 1, got {window_ms}, {max_items}")
        self.window_ms = window_ms
        self.max_items = max_items
        self.next_seq = next_seq
        self.late = 0
        self.gaps = 0
        self._buffer: dict[int, tuple[T, int]] = {}

    def __len__(self) -> int:
        return len(self._buffer)

    def push(self, seq: int, item: T, now_ms: int) -> None:
        """Buffer ``item`` (arrived at ``now_ms``, epoch ms) unless it is late or a duplicate."""
        if self.next_seq is None:
            self.next_seq = seq
        if seq < self.next_seq or seq in self._buffer:
            self.late += 1
            return
        self._buffer[seq] = (item, now_ms)

    def pop_ready(self, now_ms: int) -> list[tuple[int, T]]:
        """The items that may be released at ``now_ms`` (epoch ms), in seq order."""
        out: list[tuple[int, T]] = []
        while self._buffer and self.next_seq is not None:
            if self.next_seq in self._buffer:
                item, _ = self._buffer.pop(self.next_seq)
                out.append((self.next_seq, item))
                self.next_seq += 1
                continue
            oldest_ms = min(arrived for _, arrived in self._buffer.values())
            if now_ms - oldest_ms > self.window_ms or len(self._buffer) > self.max_items:
                first = min(self._buffer)
                self.gaps += first - self.next_seq
                self.next_seq = first
                continue
            break
        return out
