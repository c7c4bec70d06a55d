"""Pure rules of the registry and labels: camera names and label canonicalisation."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import pytest

from services.common import registry
from services.common.labels import CANONICAL_LABELS, OPTIONAL_LABELS, UnknownLabelError, canonical_label

NAME_ERR = pytest.raises(registry.CameraError, match="must be 1-64")


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("cam1", nullcontext()),
        ("0", nullcontext()),
        ("Front-Door_2.hd", nullcontext()),
        ("a" * 64, nullcontext()),
        ("9-lives", nullcontext()),
        ("", NAME_ERR),
        ("a" * 65, NAME_ERR),
        ("-leading-dash", NAME_ERR),
        ("_leading_underscore", NAME_ERR),
        (".hidden", NAME_ERR),
        ("has space", NAME_ERR),
        ("has:colon", NAME_ERR),  # would break the key layout emo:frames:{cam}
        ("slash/name", NAME_ERR),
        ("{tag}", NAME_ERR),
        ("café", NAME_ERR),
        ("cam\n", NAME_ERR),
        ("cam*", NAME_ERR),
    ],
)
def test_validate_name(name: str, expect: AbstractContextManager[object]) -> None:
    with expect:
        assert registry.validate_name(name) == name


def test_camera_error_names_the_camera() -> None:
    with pytest.raises(registry.CameraError) as info:
        registry.validate_name("bad name")
    assert "'bad name'" in str(info.value)
    assert isinstance(info.value, ValueError)


LABEL_ERR = pytest.raises(UnknownLabelError, match="cannot be mapped")


@pytest.mark.parametrize(
    ("raw", "canonical", "expect"),
    [
        ("angry", "angry", nullcontext()),
        ("Anger", "angry", nullcontext()),
        ("  MAD ", "angry", nullcontext()),
        ("disgusted", "disgust", nullcontext()),
        ("Fearful", "fear", nullcontext()),
        ("scared", "fear", nullcontext()),
        ("happiness", "happy", nullcontext()),
        ("Happy Face", "happy", nullcontext()),
        ("happy-face", "happy", nullcontext()),
        ("joy", "happy", nullcontext()),
        ("SADNESS", "sad", nullcontext()),
        ("surprised", "surprise", nullcontext()),
        ("suprise", "surprise", nullcontext()),
        ("calm", "neutral", nullcontext()),
        ("Neutral", "neutral", nullcontext()),
        ("contempt", "contempt", nullcontext()),
        ("love", "", LABEL_ERR),
        ("", "", LABEL_ERR),
        ("happy sad", "", LABEL_ERR),
        ("LABEL_0", "", LABEL_ERR),
    ],
)
def test_canonical_label(raw: str, canonical: str, expect: AbstractContextManager[object]) -> None:
    with expect:
        assert canonical_label(raw) == canonical


@pytest.mark.parametrize("label", CANONICAL_LABELS + OPTIONAL_LABELS)
def test_canonical_labels_map_to_themselves(label: str) -> None:
    assert canonical_label(label) == label
    assert canonical_label(label.upper()) == label


def test_unknown_label_error_lists_the_canonical_set() -> None:
    with pytest.raises(UnknownLabelError) as info:
        canonical_label("bored")
    text = str(info.value)
    assert "'bored'" in text
    for label in CANONICAL_LABELS:
        assert label in text
    assert isinstance(info.value, ValueError)
