from django.apps import AppConfig


class EmbedConfig(AppConfig):
    name = "tillit.embed"
    label = "embed"
