from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    name = "tillit.console"
    label = "console"
    default = True

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import post_migrate

        from tillit.console import roles, security

        post_migrate.connect(roles.ensure, dispatch_uid="tillit.console.roles")
        user_logged_in.connect(security.signed_in, dispatch_uid="tillit.console.signed_in")
        user_logged_out.connect(security.signed_out, dispatch_uid="tillit.console.signed_out")


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with the console's own site as the default one."""

    default = False
    default_site = "tillit.console.site.ConsoleSite"
