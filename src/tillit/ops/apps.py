from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The command line (`tillit init`, `run`, `web`, `migrate`, `backup`, `restore`,
    `prune`), the system checks that stop a wrong start, and the health a running tillit
    reports (/healthz, /metrics, the console's dashboard). It holds no models."""

    name = "tillit.ops"
    label = "ops"

    def ready(self) -> None:
        from tillit.ops import checks  # noqa: F401  (registers the system checks)
