from django.apps import AppConfig


class DisclosureConfig(AppConfig):
    name = "tillit.disclosure"
    label = "disclosure"
    verbose_name = "Disclosure cases"
