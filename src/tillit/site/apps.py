from django.apps import AppConfig


class SiteConfig(AppConfig):
    name = "tillit.site"
    label = "site"
