"""python -m services.events [--check]"""

import sys
import threading

from services.common.entrypoint import service_main, settings_or_exit
from services.events.deliver import Deliverer, sinks_of
from services.events.service import EventsWorker
from services.events.settings import EventsSettings


def main(argv: list[str] | None = None) -> int:
    settings = settings_or_exit(EventsSettings, "events")

    def run(stop: threading.Event) -> None:
        worker = EventsWorker(settings, stop=stop)
        deliverers = [
            Deliverer(
                worker.redis,
                sink,
                settings.instance,
                settings.webhook_attempts,
                settings.webhook_backoff_s,
                stop,
                worker.handler.stats,
            )
            for sink in sinks_of(settings)
        ]
        for d in deliverers:
            d.ensure_group()  # before the first event, so a new sink misses none
        threads = [threading.Thread(target=d.run, name=d.group, daemon=True) for d in deliverers]
        for t in threads:
            t.start()
        try:
            worker.run()
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)

    return service_main("events", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
