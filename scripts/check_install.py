"""``pip check``, minus the pins we override on purpose: exits 1 naming any other broken requirement.

facenet-pytorch 2.6.0 pins torch<2.3, torchvision<0.18, numpy<2 and Pillow<10.3, and fer asks for
TensorFlow: the lock overrides both on purpose (lock/overrides.txt says why), which ``pip check`` cannot
know. Every other conflict it reports is a real one.
"""

from __future__ import annotations

import re
import subprocess
import sys

# trackers and supervision (make bench-deps) ask for opencv-python; the headless build stands in for it
OVERRIDDEN = ("facenet-pytorch", "fer", "trackers", "supervision")


def main() -> int:
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    real = [
        line
        for line in lines
        if not re.match(rf"^({'|'.join(map(re.escape, OVERRIDDEN))}) ", line, re.I)
        and not line.lower().startswith("no broken requirements")
    ]
    for line in real:
        print(f"check_install: {line}")
    if real:
        return 1
    known = len(lines) - len(real)
    print(f"check_install: requirements consistent ({known} known overrides: {', '.join(OVERRIDDEN)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
