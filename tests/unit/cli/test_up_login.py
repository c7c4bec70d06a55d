"""``up`` never serves a dashboard that others reach without a login."""

from __future__ import annotations

import pytest

from services.cli.up import new_login


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_a_loopback_dashboard_gets_no_generated_login(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMOSTREAM_UI_PASSWORD", raising=False)
    assert new_login(host) == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_a_dashboard_beyond_loopback_gets_a_fresh_password(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMOSTREAM_UI_PASSWORD", raising=False)
    first, second = new_login(host), new_login(host)
    assert len(first) >= 16 and first != second


def test_a_chosen_password_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOSTREAM_UI_PASSWORD", "mine")
    assert new_login("0.0.0.0") == ""
