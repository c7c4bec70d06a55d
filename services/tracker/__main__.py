"""python -m services.tracker [--check]"""

import sys
import threading

from services.common import keys
from services.common.cli import service_main
from services.common.worker import Worker
from services.tracker.service import TrackerHandler
from services.tracker.settings import TrackerSettings


def main(argv: list[str] | None = None) -> int:
    settings = TrackerSettings()

    def run(stop: threading.Event) -> None:
        stage, group = keys.GROUPS["tracker"]
        Worker("tracker", settings, TrackerHandler(settings), stage, group, stop=stop).run()

    return service_main("tracker", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
