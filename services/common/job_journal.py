"""What a file job has collected from its tracks stream: :class:`JobResult` in memory, :class:`Journal`
on disk (``{out}/.journal``), so that a runner that dies mid-job resumes where it stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from services.common.schema import End, Message


@dataclass
class JobResult:
    frames: dict[int, Message] = field(default_factory=dict)  # seq -> Tracks or Skip
    end: End | None = None


class Journal:
    """Append-only record of the tracks entries a job has collected: ``(entry_id, fields)`` as msgpack,
    each behind a 4-byte length. A torn last record (the process died while writing it) is ignored."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> list[tuple[str, dict[bytes, bytes]]]:
        if self.path is None or not self.path.is_file():
            return []
        data = self.path.read_bytes()
        records: list[tuple[str, dict[bytes, bytes]]] = []
        pos = 0
        while pos + 4 <= len(data):
            size = int.from_bytes(data[pos : pos + 4], "big")
            if pos + 4 + size > len(data):
                break
            try:
                entry_id, fields = msgspec.msgpack.decode(data[pos + 4 : pos + 4 + size])
                records.append((str(entry_id), dict(fields)))
            except (msgspec.DecodeError, TypeError, ValueError):
                break
            pos += 4 + size
        if pos < len(data):  # cut the torn tail, so later appends follow a whole record
            with open(self.path, "r+b") as fh:
                fh.truncate(pos)
        return records

    def append(self, records: list[tuple[str, dict[bytes, bytes]]]) -> None:
        if self.path is None or not records:
            return
        blob = b"".join(
            len(raw).to_bytes(4, "big") + raw for raw in (msgspec.msgpack.encode(list(r)) for r in records)
        )
        with open(self.path, "ab") as fh:
            fh.write(blob)
            fh.flush()

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
