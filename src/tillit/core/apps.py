from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tillit.core"
    label = "core"
