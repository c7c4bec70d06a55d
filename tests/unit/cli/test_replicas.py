"""``up --replicas``: which services may have replicas, and how a bad value is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli import main
from services.cli.stack import parse_replicas
from services.cli.supervisor import Supervisor


def test_replicas_parse() -> None:
    assert parse_replicas("") == {}
    assert parse_replicas("detector=2, classifier=3,tracker=1") == {
        "detector": 2,
        "classifier": 3,
        "tracker": 1,
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ingest=2", "'ingest' cannot have replicas"),
        ("ui=2", "'ui' cannot have replicas"),
        ("detector", "SERVICE=N"),
        ("detector=two", "whole number"),
        ("detector=0", "1 to 16"),
        ("classifier=17", "1 to 16"),
    ],
)
def test_bad_replicas_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_replicas(text)


def test_up_refuses_bad_replicas_before_starting_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--replicas", "ingest=2"]) == 2
    assert "'ingest' cannot have replicas" in capsys.readouterr().err


def test_each_replica_gets_its_own_stable_consumer_name() -> None:
    sup = Supervisor({})
    for _ in range(2):
        sup.add("detector")
    sup.add("classifier")
    names = [c.env["EMOSTREAM_INSTANCE"] for c in sup.children]
    assert len(set(names)) == 3
    assert [c.replica for c in sup.children] == [0, 1, 0]
    assert "-detector-0-" in names[0] and "-detector-1-" in names[1]


def test_file_jobs_give_the_limiting_stage_a_second_process(tmp_path: Path) -> None:
    from services.cli.stack import file_job_replicas

    hf = tmp_path / "swin"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    native = tmp_path / "native"
    native.mkdir()
    (native / "config.json").write_text("{}")
    (native / "emostream.json").write_text("{}")
    # a Hugging Face model (Swin-T) limits throughput in the classifier; the bundled models in MTCNN
    assert file_job_replicas(str(hf), cores=2, gpu=False) == {"classifier": 2}
    assert file_job_replicas("owner/swin-fer", cores=2, gpu=False) == {"classifier": 2}
    assert file_job_replicas(None, cores=2, gpu=False) == {"detector": 2}
    assert file_job_replicas("emo-vgg", cores=8, gpu=False) == {"detector": 2}
    assert file_job_replicas(str(native), cores=2, gpu=False) == {"detector": 2}
    # one core, or a GPU: one process per stage
    assert file_job_replicas(str(hf), cores=1, gpu=False) == {}
    assert file_job_replicas(str(hf), cores=16, gpu=True) == {}


def test_the_device_setting_decides_whether_there_is_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli.stack import file_job_replicas

    monkeypatch.setenv("EMOSTREAM_DEVICE", "cuda:0")
    assert file_job_replicas(None, cores=4) == {}
    monkeypatch.setenv("EMOSTREAM_DEVICE", "cpu")
    assert file_job_replicas(None, cores=4) == {"detector": 2}
