from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class PartnersConfig(AppConfig):
    name = "tillit.partners"
    label = "partners"
    verbose_name = _("Partners")

    def ready(self) -> None:
        from tillit.partners import routing
        from tillit.partners.models import Partner

        # A partner saved in this process (the console, a command) changes where sign-ups can
        # go at once; other processes see it within routing.OPEN_SECONDS.
        post_save.connect(routing.forget_open, sender=Partner, dispatch_uid="routing-open")
        post_delete.connect(routing.forget_open, sender=Partner, dispatch_uid="routing-open-del")
