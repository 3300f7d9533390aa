from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "tillit.partners"
    label = "partners"
