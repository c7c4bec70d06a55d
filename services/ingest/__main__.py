"""python -m services.ingest [--check]"""

import sys
import threading

from services.common.entrypoint import service_main, settings_or_exit
from services.ingest.service import Ingest
from services.ingest.settings import IngestSettings


def main(argv: list[str] | None = None) -> int:
    settings = settings_or_exit(IngestSettings, "ingest")

    def run(stop: threading.Event) -> None:
        Ingest(settings, stop=stop).run()

    return service_main("ingest", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
