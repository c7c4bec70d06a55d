"""python -m services.ui [--check]"""

import logging
import sys
import threading

from services.common.entrypoint import service_main, settings_or_exit
from services.common.lifecycle import Service, run_service
from services.common.worker import redis_client
from services.ui.app import create_app
from services.ui.server import Server, uvicorn_config
from services.ui.settings import UISettings
from services.ui.state import LiveState

log = logging.getLogger("services.ui")


class UiService(Service):
    """The ui's lifecycle hooks: its health beat and stats line (the web server is uvicorn's)."""

    def __init__(self, settings: UISettings, live: LiveState, stop: threading.Event) -> None:
        self.settings = settings
        self.live = live
        self.stop = stop

    def step(self) -> bool:
        self.stop.wait(1.0)
        return True

    def stats(self) -> dict[str, int | float | str]:
        return {"cameras": len(self.live.views()), "port": self.settings.port, **self.live.stats}


def main(argv: list[str] | None = None) -> int:
    settings = settings_or_exit(UISettings, "ui")

    def run(stop: threading.Event) -> None:
        client = redis_client(settings)
        app = create_app(settings, client)
        server = Server(uvicorn_config(app, settings), stop)
        beater = threading.Thread(
            target=run_service,
            args=("ui", UiService(settings, app.state.live, stop), settings, client, stop),
            daemon=True,
        )
        beater.start()

        # uvicorn takes over SIGTERM/SIGINT while it runs; Server.handle_exit sets stop too.
        def exit_on_stop() -> None:
            stop.wait()
            app.state.live.closing.set()  # open MJPEG and push streams end within one frame
            server.should_exit = True

        watcher = threading.Thread(target=exit_on_stop, daemon=True)
        watcher.start()
        log.info("ui listening url=http://%s:%d", settings.host, settings.port)
        try:
            server.run()
        finally:
            stop.set()
            beater.join(timeout=5)
            client.close()
        log.info("ui stopped")

    return service_main("ui", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
