from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "tillit.offers"
    label = "offers"
    verbose_name = "Offers"
