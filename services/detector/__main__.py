"""python -m services.detector [--check]"""

import sys
import threading

from services.common import keys
from services.common.entrypoint import service_main, settings_or_exit
from services.common.worker import Worker, redis_client
from services.detector.service import DetectorHandler
from services.detector.settings import DetectorSettings


def main(argv: list[str] | None = None) -> int:
    settings = settings_or_exit(DetectorSettings, "detector")

    def run(stop: threading.Event) -> None:
        import torch

        torch.set_num_threads(settings.cpu_threads())
        from services.detector.model import MtcnnDetector

        detector = MtcnnDetector(
            min_face_size=settings.min_face_size,
            thresholds=settings.thresholds,
            max_side_px=settings.max_side_px,
            device=settings.device or None,
            backend=settings.backend,
        )
        client = redis_client(settings)
        kind, group = keys.GROUPS["detector"]
        handler = DetectorHandler(client, detector, settings)
        Worker("detector", settings, handler, kind, group, client=client, stop=stop).run()

    return service_main("detector", settings, run, argv)


if __name__ == "__main__":
    sys.exit(main())
