"""python -m services.ingest [--check]"""

import sys
import threading

from services.common.entrypoint import service_main
from services.ingest.service import Ingest
from services.ingest.settings import IngestSettings


def main(argv: list[str] | None = None) -> int:
    settings = IngestSettings()

    def run(stop: threading.Event) -> None:
        Ingest(settings, stop=stop).run()

    return service_main("ingest", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
