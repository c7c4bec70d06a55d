"""Every child's settings, validated in the parent before any child starts.

Without this, a bad value (``emostream up --port 99999``) started the whole stack and the one service that
reads it crash-looped with a pydantic traceback while the others ran. :func:`check` builds each service's
settings class from exactly the environment its child will get; the first that does not validate stops
``up`` or ``analyze`` with one line (exit 2) and nothing started.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from pydantic_settings import BaseSettings

from services.cli.supervisor import Child
from services.common.settings_check import SettingsError, environment, load_settings

#: each service's settings class, ``module:class``
SETTINGS = {
    "ingest": "services.ingest.settings:IngestSettings",
    "detector": "services.detector.settings:DetectorSettings",
    "classifier": "services.classifier.settings:ClassifierSettings",
    "tracker": "services.tracker.settings:TrackerSettings",
    "events": "services.events.settings:EventsSettings",
    "ui": "services.ui.settings:UISettings",
}


def settings_class(service: str) -> type[BaseSettings]:
    module, name = SETTINGS[service].split(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return cls


def check(children: Iterable[Child]) -> None:
    """Raises :class:`SettingsError` naming the service, the variable, its value and what is allowed.

    Swaps ``os.environ`` while it runs (:func:`environment`): call it before any thread of ours reads it."""
    for child in children:
        if child.replica:
            continue  # a replica's environment differs from the first one's in its instance name alone
        with environment(child.env):
            try:
                load_settings(settings_class(child.name))
            except SettingsError as exc:
                raise SettingsError(f"{child.name}: {exc}") from None
