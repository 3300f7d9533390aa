from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tillit.core"
    label = "core"

    def ready(self) -> None:
        from tillit.core import checks  # noqa: F401  (registers the system checks)
