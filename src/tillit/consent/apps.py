from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "tillit.consent"
    label = "consent"
