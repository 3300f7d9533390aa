from django.apps import AppConfig


class WorkerConfig(AppConfig):
    name = "tillit.worker"
    label = "worker"
