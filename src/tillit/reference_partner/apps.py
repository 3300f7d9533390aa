from django.apps import AppConfig


class ReferencePartnerConfig(AppConfig):
    name = "tillit.reference_partner"
    label = "reference_partner"
