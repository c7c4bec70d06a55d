"""python -m services.tracker [--check]"""

import sys
import threading

from services.common.entrypoint import service_main, settings_or_exit
from services.tracker.service import TrackerWorker
from services.tracker.settings import TrackerSettings


def main(argv: list[str] | None = None) -> int:
    settings = settings_or_exit(TrackerSettings, "tracker")

    def run(stop: threading.Event) -> None:
        TrackerWorker(settings, stop=stop).run()

    return service_main("tracker", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
