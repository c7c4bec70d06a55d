"""The service lifecycle's pure parts: the backoff, the stats line, renamed settings."""

from __future__ import annotations

import logging

import pytest
import redis

from services.common.lifecycle import Backoff, redis_away, stats_line
from services.common.settings import CommonSettings
from services.tracker.settings import TrackerSettings


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(first_s=0.5, cap_s=3.0)
    assert [backoff.next_s() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_s() == 0.5


def test_stats_line_is_key_value_sorted() -> None:
    assert stats_line({"out": 3, "acked": 2, "cameras": 1}) == "acked=2 cameras=1 out=3"


def test_a_renamed_setting_is_still_read_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EMOSTREAM_MAX_BATCH", "3")
    monkeypatch.setenv("EMOSTREAM_MAX_AGE", "7")
    with caplog.at_level(logging.WARNING):
        assert CommonSettings().read_count == 3
        assert TrackerSettings().max_age_frames == 7
    assert "EMOSTREAM_MAX_BATCH is deprecated: use EMOSTREAM_READ_COUNT" in caplog.text


def test_the_new_name_wins_over_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOSTREAM_MAX_BATCH", "3")
    monkeypatch.setenv("EMOSTREAM_READ_COUNT", "5")
    assert CommonSettings().read_count == 5


def test_a_bad_old_value_is_refused_like_a_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOSTREAM_MAX_BATCH", "0")
    with pytest.raises(ValueError, match="read_count"):
        CommonSettings()


def test_redis_is_away_when_unreachable_or_refusing_writes_for_want_of_replicas_and_not_otherwise() -> None:
    assert redis_away(redis.ConnectionError("refused"))
    assert redis_away(redis.TimeoutError("slow"))
    assert redis_away(redis.ResponseError("NOREPLICAS Not enough good replicas to write."))
    assert redis_away(
        redis.ResponseError("Command # 1 (XADD s * a 1) of pipeline caused error: NOREPLICAS ...")
    )
    assert not redis_away(redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind"))
    assert not redis_away(ValueError("not redis"))
