from django.apps import AppConfig


class ContactConfig(AppConfig):
    name = "tillit.contact"
    label = "contact"
    verbose_name = "Contact"
