"""Print uv flags for the package sources pip is configured with (``pip config list``), one per line.

uv reads no pip configuration. Where a machine's pip is set up with local wheel folders or mirrors (the
project's own machines carry torch's 2.5 GB of wheels on disk), ``make install`` hands uv the same
sources. That is safe: uv installs only files whose hashes are in the lock, wherever they come from.
Prints nothing where pip has no such settings, so a plain machine uses PyPI alone.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

FLAGS = {"find-links": "--find-links", "extra-index-url": "--extra-index-url"}


def sources(config: str) -> list[str]:
    """The uv flags for the ``find-links`` and ``extra-index-url`` lines of ``pip config list`` output."""
    flags: list[str] = []
    for line in config.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        flag = FLAGS.get(key.rsplit(".", 1)[-1])
        for item in " ".join(shlex.split(value)).split() if flag else []:
            if item not in flags:
                flags += [flag, item]
    if flags:
        # several sources may carry a package; the lock's hashes decide which file is acceptable
        flags += ["--index-strategy", "unsafe-best-match"]
    return flags


def main() -> int:
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    print(" ".join(shlex.quote(flag) for flag in sources(done.stdout if done.returncode == 0 else "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
