from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "tillit.vault"
    label = "vault"
