from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "tillit.rights"
    label = "rights"
