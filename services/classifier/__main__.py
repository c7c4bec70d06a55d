"""python -m services.classifier [--check]"""

import sys
import threading

from services.classifier.service import ClassifierHandler
from services.classifier.settings import ClassifierSettings
from services.common import keys
from services.common.entrypoint import service_main, settings_or_exit
from services.common.worker import Worker, redis_client


def main(argv: list[str] | None = None) -> int:
    settings = settings_or_exit(ClassifierSettings, "classifier")

    def run(stop: threading.Event) -> None:
        import torch

        torch.set_num_threads(settings.cpu_threads())
        from services.classifier.loader import load_model

        model = load_model(settings.model, device=settings.device or None, backend=settings.backend)
        client = redis_client(settings)
        kind, group = keys.GROUPS["classifier"]
        handler = ClassifierHandler(model, settings.model, settings.live_max_age_ms)
        Worker("classifier", settings, handler, kind, group, client=client, stop=stop).run()

    return service_main("classifier", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
