"""A camera's login when ingest fetches it itself: Basic, and Digest as RFC 2617 computes it."""

from __future__ import annotations

import pytest

from services.ingest.http_auth import authorization, digest

RFC_CHALLENGE = (
    'realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_digest_answers_the_rfc_2617_example() -> None:
    header = digest(RFC_CHALLENGE, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b")
    assert header is not None
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header and "qop=auth," in header


@pytest.mark.parametrize(
    ("challenges", "starts"),
    [
        (['Basic realm="cam"'], "Basic dmlld2VyOnB3"),  # viewer:pw
        (['Basic realm="cam"', f"Digest {RFC_CHALLENGE}"], "Digest "),  # Digest first
        ([f"Digest {RFC_CHALLENGE}, algorithm=SHA-256"], "Digest "),
        ([f"Digest {RFC_CHALLENGE}, algorithm=SHA-512-256"], None),  # not one it knows
        (['Bearer realm="cam"'], None),
        ([], None),
    ],
)
def test_authorization_picks_a_challenge_it_can_answer(challenges: list[str], starts: str | None) -> None:
    header = authorization(challenges, "GET", "/video.mjpg", "viewer", "pw")
    if starts is None:
        assert header is None
    else:
        assert header is not None and header.startswith(starts)
