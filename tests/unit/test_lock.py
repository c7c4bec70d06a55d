"""The hashed lock (lock/requirements.txt) agrees with pyproject.toml and lock/app.in, the venv is exactly
the lock, and the Makefile's install command refuses a tampered, unhashed or unpinned package."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "lock" / "requirements.txt"
# benchmark-only (make bench-deps): it pulls the GUI build of OpenCV, so it stays out of the lock
UNLOCKED_EXTRAS = {"bench"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def parse_lock(text: str) -> dict[str, tuple[Version, frozenset[str]]]:
    """``name -> (version, hashes)`` of a ``uv pip compile --generate-hashes`` file.

    Raises:
        ValueError: a requirement line that is not ``name==version`` (unpinned, a URL, an editable).
    """
    pins: dict[str, tuple[Version, frozenset[str]]] = {}
    name = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash="):
            if name is None:
                raise ValueError(f"a hash before any requirement: {stripped}")
            version, hashes = pins[name]
            pins[name] = (version, hashes | {stripped.split()[0].removeprefix("--hash=")})
            continue
        match = PIN.match(stripped)
        if not match or line[0].isspace():
            raise ValueError(f"not an exact pin: {stripped}")
        name = canonicalize_name(match[1])
        pins[name] = (Version(match[2]), frozenset())
    return pins


def declared(pyproject: str, app_in: str) -> list[Requirement]:
    """Every requirement the lock must satisfy: pyproject's dependencies and locked extras, and app.in."""
    project = tomllib.loads(pyproject)["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra, items in project.get("optional-dependencies", {}).items():
        if extra not in UNLOCKED_EXTRAS:
            reqs += [Requirement(r) for r in items]
    for line in app_in.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            reqs.append(Requirement(line))
    own = canonicalize_name(project["name"])
    return [r for r in reqs if canonicalize_name(r.name) != own]


def problems(pyproject: str, app_in: str, lock: str) -> list[str]:
    """What is wrong between the declared requirements and the lock; empty when they agree."""
    pins = parse_lock(lock)
    found = []
    for req in declared(pyproject, app_in):
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.11"}):
            continue
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            found.append(f"{req} is declared but not in the lock (run `make lock`)")
        elif not req.specifier.contains(pin[0], prereleases=True):
            found.append(f"{req} is declared but the lock pins {pin[0]} (run `make lock`)")
    found += [f"{name}=={version} has no hash" for name, (version, hashes) in pins.items() if not hashes]
    return found


def repo_inputs() -> tuple[str, str, str]:
    return (
        (ROOT / "pyproject.toml").read_text(),
        (ROOT / "lock" / "app.in").read_text(),
        LOCK.read_text(),
    )


def test_lock_agrees_with_pyproject_and_app_in() -> None:
    assert problems(*repo_inputs()) == []


def test_a_dependency_added_without_relocking_is_named() -> None:
    pyproject, app_in, lock = repo_inputs()
    added = pyproject.replace('"msgspec>=0.18",', '"msgspec>=0.18",\n    "leftpad>=1.0",', 1)
    assert added != pyproject
    assert problems(added, app_in, lock) == ["leftpad>=1.0 is declared but not in the lock (run `make lock`)"]
    assert problems(pyproject, app_in + "\nnot-locked-yet==2.0\n", lock) == [
        "not-locked-yet==2.0 is declared but not in the lock (run `make lock`)"
    ]


def test_a_range_the_pin_does_not_satisfy_is_named() -> None:
    pyproject, app_in, lock = repo_inputs()
    raised = pyproject.replace('"redis>=5.0"', '"redis>=99"', 1)
    assert raised != pyproject
    (problem,) = problems(raised, app_in, lock)
    assert problem.startswith("redis>=99 is declared but the lock pins ")


def test_every_pin_has_a_hash_and_an_unpinned_line_is_refused() -> None:
    pins = parse_lock(LOCK.read_text())
    assert len(pins) > 100
    assert all(hashes for _, hashes in pins.values())
    for name in ("torch", "torchvision", "facenet-pytorch", "fer"):
        assert name in pins
    # what the overrides drop never comes in (fer's TensorFlow, its second OpenCV)
    for name in ("tensorflow", "opencv-contrib-python", "opencv-python", "matplotlib", "moviepy"):
        assert name not in pins
    pyproject, app_in, lock = repo_inputs()
    stripped = re.sub(r"(?m)^(torch==\S+) \\\n(\s+--hash=\S+( \\)?\n)+", r"\1\n", lock)
    assert stripped != lock
    assert problems(pyproject, app_in, stripped) == [f"torch=={pins['torch'][0]} has no hash"]
    with pytest.raises(ValueError, match="not an exact pin: numpy>=2"):
        parse_lock(lock + "numpy>=2\n")


@pytest.mark.parametrize("service", ["ingest", "detector", "classifier", "tracker", "events", "ui"])
def test_each_image_lock_is_a_subset_of_the_app_lock(service: str) -> None:
    """deploy/Dockerfile installs lock/SERVICE.txt: the app lock's versions, each file the app lock
    accepts (uv may list one more file of the same release, e.g. its sdist), and all the extra declares."""
    pins = parse_lock(LOCK.read_text())
    image = parse_lock((ROOT / "lock" / f"{service}.txt").read_text())
    assert {name: pins[name][0] for name in image if name in pins} == {n: v for n, (v, _) in image.items()}
    assert all(pins[name][1] <= hashes for name, (_, hashes) in image.items())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"][service]
    service_in = ROOT / "lock" / f"{service}.in"
    wanted += declared(
        "[project]\nname = 'x'\ndependencies = []", service_in.read_text() if service_in.exists() else ""
    )
    for req in map(Requirement, map(str, wanted)):
        assert req.specifier.contains(image[canonicalize_name(req.name)][0], prereleases=True), req
    if service in ("ingest", "tracker", "events", "ui"):
        assert "torch" not in image


def test_the_venv_is_exactly_the_lock() -> None:
    """What `make install` (uv pip sync) left is the lock, no more and no less, plus the project itself."""
    pins = parse_lock(LOCK.read_text())
    installed = {
        canonicalize_name(d.metadata["Name"]): Version(d.version) for d in importlib.metadata.distributions()
    }
    installed.pop("emostream")
    assert {name: version for name, (version, _) in pins.items()} == installed


def test_install_check_passes() -> None:
    """pip check finds nothing broken beyond the overrides lock/overrides.txt explains."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_install.py")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _wheel(folder: Path, name: str, version: str, body: bytes = b"VALUE = 1\n") -> Path:
    """A minimal pure-Python wheel, so the install test needs no index and no network."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{arc},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for arc, data in files.items()
    ]
    files[f"{name}-{version}.dist-info/RECORD"] = (
        "\n".join([*record, f"{name}-{version}.dist-info/RECORD,,"]) + "\n"
    ).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for arc, data in files.items():
            zf.writestr(arc, data)
    return path


def _make_sync_command(venv: Path, lock: Path, wheels: Path) -> list[str]:
    """The Makefile's own `uv pip sync` line, with a scratch venv, lock and wheel folder substituted."""
    done = subprocess.run(
        [
            "make", "--no-print-directory", "-n", "-B", f"{venv}/.installed",
            f"VENV={venv}", f"LOCK={lock}", f"UV={ROOT / '.venv' / 'bin' / 'uv'}",
            f"SOURCES=--no-index --find-links {wheels}",
        ],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    (line,) = [line for line in done.stdout.splitlines() if " pip sync " in line]
    assert "--require-hashes" in line
    return shlex.split(line)


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return next((path / "lib").glob("python3*/site-packages"))


@pytest.mark.parametrize(
    ("entry", "tamper", "error"),
    [
        ("emodemo==1.0 --hash=sha256:{good}", True, "hash mismatch"),
        ("emodemo==1.0 --hash=sha256:{bad}", False, "hash mismatch"),
        ("emodemo==1.0", False, "hash"),
        ("emodemo --hash=sha256:{good}", False, "pinned"),
        ("emodemo>=1.0 --hash=sha256:{good}", False, "pinned"),
    ],
    ids=["tampered-file", "wrong-hash", "unhashed", "unpinned", "range"],
)
def test_make_install_refuses_a_tampered_unhashed_or_unpinned_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, tamper: bool, error: str
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cache"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    good = hashlib.sha256(_wheel(wheels, "emodemo", "1.0").read_bytes()).hexdigest()
    lock = tmp_path / "lock.txt"
    lock.write_text(f"emodemo==1.0 --hash=sha256:{good}\n")
    site = _venv(tmp_path / "control")
    ok = subprocess.run(
        _make_sync_command(tmp_path / "control", lock, wheels), capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert (site / "emodemo" / "__init__.py").is_file()

    (tmp_path / "cache").rename(tmp_path / "cache-control")
    if tamper:  # the same name and version, other bytes: what a compromised mirror would serve
        _wheel(wheels, "emodemo", "1.0", body=b"VALUE = 2\n")
    lock.write_text(entry.format(good=good, bad="0" * 64) + "\n")
    site = _venv(tmp_path / "venv")
    refused = subprocess.run(
        _make_sync_command(tmp_path / "venv", lock, wheels), capture_output=True, text=True
    )
    assert refused.returncode != 0
    assert error in refused.stderr.lower(), refused.stderr
    assert not (site / "emodemo").exists()
