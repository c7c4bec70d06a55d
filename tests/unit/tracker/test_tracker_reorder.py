"""SeqReorderer: in-order release, reordering, gaps given up, late items, overflow."""

from __future__ import annotations

import pytest

from services.tracker.stage import SeqReorderer


def seqs(pairs: list[tuple[int, str]]) -> list[int]:
    return [s for s, _ in pairs]


def test_in_order_items_pass_straight_through() -> None:
    r: SeqReorderer[str] = SeqReorderer(window_ms=100)
    released = []
    for seq in range(5, 10):
        r.push(seq, f"frame{seq}", now_ms=seq)
        released += r.pop_ready(now_ms=seq)
    assert released == [(seq, f"frame{seq}") for seq in range(5, 10)]
    assert (r.late, r.gaps, len(r)) == (0, 0, 0)


def test_out_of_order_items_are_released_in_order() -> None:
    r: SeqReorderer[str] = SeqReorderer(window_ms=100)
    r.push(1, "a", 0)
    assert seqs(r.pop_ready(0)) == [1]
    r.push(3, "c", 1)
    r.push(4, "d", 2)
    assert r.pop_ready(3) == []
    r.push(2, "b", 4)
    assert r.pop_ready(5) == [(2, "b"), (3, "c"), (4, "d")]
    assert r.gaps == 0


@pytest.mark.parametrize(("now_ms", "released", "gaps"), [(50, [], 0), (110, [], 0), (111, [4, 5], 2)])
def test_missing_seq_is_given_up_after_the_window(now_ms: int, released: list[int], gaps: int) -> None:
    r: SeqReorderer[str] = SeqReorderer(window_ms=100, next_seq=2)
    r.push(4, "d", 10)
    r.push(5, "e", 20)
    assert seqs(r.pop_ready(now_ms)) == released
    assert r.gaps == gaps
    assert r.next_seq == (6 if released else 2)


def test_give_up_repeats_while_older_items_wait_too_long() -> None:
    r: SeqReorderer[str] = SeqReorderer(window_ms=100, next_seq=0)
    r.push(2, "c", 0)
    r.push(5, "f", 0)
    r.push(9, "j", 500)
    assert seqs(r.pop_ready(200)) == [2, 5]
    assert (r.next_seq, r.gaps, len(r)) == (6, 2 + 2, 1)


@pytest.mark.parametrize("late_seq", [1, 2])
def test_late_duplicate_is_dropped_and_counted(late_seq: int) -> None:
    r: SeqReorderer[str] = SeqReorderer(window_ms=100)
    r.push(1, "a", 0)
    r.push(2, "b", 0)
    assert seqs(r.pop_ready(0)) == [1, 2]
    r.push(late_seq, "again", 1)
    assert r.pop_ready(1000) == []
    assert r.late == 1
    r.push(3, "c", 2)
    assert r.pop_ready(2) == [(3, "c")]


def test_repeat_of_a_buffered_seq_keeps_the_first() -> None:
    r: SeqReorderer[str] = SeqReorderer(window_ms=100, next_seq=1)
    r.push(2, "first", 0)
    r.push(2, "second", 1)
    r.push(1, "a", 2)
    assert r.pop_ready(2) == [(1, "a"), (2, "first")]
    assert r.late == 1


def test_constructor_next_seq_makes_earlier_items_late() -> None:
    r: SeqReorderer[str] = SeqReorderer(next_seq=5)
    r.push(3, "old", 0)
    assert (r.late, len(r)) == (1, 0)


def test_overflow_gives_up_missing_seqs_before_the_window() -> None:
    r: SeqReorderer[str] = SeqReorderer(window_ms=10_000, max_items=3)
    r.push(1, "a", 0)
    assert seqs(r.pop_ready(0)) == [1]
    for seq in (3, 4, 5):
        r.push(seq, str(seq), 1)
    assert r.pop_ready(2) == []  # three buffered: not more than max_items
    r.push(6, "6", 3)
    assert seqs(r.pop_ready(3)) == [3, 4, 5, 6]
    assert (r.gaps, r.next_seq, len(r)) == (1, 7, 0)


@pytest.mark.parametrize(("window_ms", "max_items"), [(-1, 4), (100, 0)])
def test_bad_limits_raise(window_ms: int, max_items: int) -> None:
    with pytest.raises(ValueError):
        SeqReorderer[str](window_ms=window_ms, max_items=max_items)
