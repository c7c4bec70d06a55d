"""The History tab's pure parts: resampling 10 s buckets, the stacked chart, the track strips, the CSV."""

from __future__ import annotations

import csv
import io
import re

from services.ui import history

T0 = 1_764_000_000_000  # a bucket start


def test_resample_sums_buckets_into_at_most_points_spans() -> None:
    buckets = [(T0 + i * 10_000, {"happy": 1, "sad": i % 2}) for i in range(360)]  # one hour
    points = history.resample(buckets, T0, T0 + 3_600_000, points=120)
    assert len(points) == 120 and all(t == T0 + i * 30_000 for i, (t, _) in enumerate(points))
    assert points[0][1] == {"happy": 3, "sad": 1} and points[1][1] == {"happy": 3, "sad": 2}
    assert sum(c["happy"] for _, c in points) == 360, "nothing lost or counted twice"
    short = history.resample(buckets[:30], T0, T0 + 300_000, points=120)
    assert len(short) == 30, "never finer than the buckets"
    assert history.resample(buckets, T0 + 3_600_000, T0 + 3_700_000)[0][1] == {}, "outside: empty"


def test_chart_stacks_shares_and_leaves_gaps_without_faces() -> None:
    points = [(T0, {"happy": 3, "sad": 1}), (T0 + 10_000, {}), (T0 + 20_000, {"sad": 2})]
    svg = history.chart_svg(points, T0, T0 + 30_000)
    assert 'data-points="3"' in svg
    assert re.findall(r'data-label="(\w+)"', svg) == ["happy", "sad"], "the labels present, in order"
    happy = re.search(r'data-label="happy"[^>]*>(.*?)</g>', svg)
    assert happy is not None and happy.group(1).count("<polygon") == 1, "one run: the empty point splits"
    sad = re.search(r'data-label="sad"[^>]*>(.*?)</g>', svg)
    assert sad is not None and sad.group(1).count("<polygon") == 2
    assert "no faces in this range" in history.chart_svg([(T0, {})], T0, T0 + 10_000)


def test_strips_show_each_track_s_segments_in_the_range() -> None:
    timeline = {
        "tracks": [
            {"track_id": 4, "segments": [{"label": "happy", "start_ms": T0, "end_ms": T0 + 5_000}]},
            {"track_id": 7, "segments": [{"label": "sad", "start_ms": T0 - 99_000, "end_ms": T0 - 98_000}]},
        ]
    }
    svg = history.strips_svg(timeline, T0, T0 + 10_000)
    assert re.findall(r'data-track="(\d+)"', svg) == ["4", "7"]
    assert svg.count("<rect") == 1, "track 7's segment is before the range"
    assert "No tracks" in history.strips_svg(None, T0, T0 + 1)


def test_csv_has_a_row_per_bucket_and_a_column_per_label() -> None:
    rows = list(
        csv.reader(io.StringIO(history.to_csv([(T0, {"sad": 2, "happy": 1}), (T0 + 10_000, {"happy": 4})])))
    )
    assert rows[0] == ["bucket_start_utc", "bucket_start_ms", "faces", "happy", "sad"]
    assert rows[1][1:] == [str(T0), "3", "1", "2"] and rows[2][1:] == [str(T0 + 10_000), "4", "4", "0"]
    assert rows[1][0].endswith("+00:00")
