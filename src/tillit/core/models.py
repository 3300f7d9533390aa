"""The two rows of shared state below the domain: the operator's brand as set in the console
(core/brand.py reads it with the data map) and the rate limits' counters (core/ratelimit.py)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tillit.datamap.brand import LOGO_MAX_BYTES


class Brand(models.Model):
    """One row (pk 1). Each field left empty falls back to the data map's [operator] and
    [brand]; the colours are saved only together, and only when they meet WCAG 2.2 AA
    (datamap/contrast.py)."""

    name = models.CharField(_("name"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail address"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    logo = models.BinaryField(_("logo"), blank=True, default=b"", max_length=LOGO_MAX_BYTES)
    logo_type = models.CharField(max_length=40, blank=True)
    background = models.CharField(_("background"), max_length=7, blank=True)
    text = models.CharField(_("text"), max_length=7, blank=True)
    accent = models.CharField(_("accent"), max_length=7, blank=True)
    accent_text = models.CharField(_("text on the accent"), max_length=7, blank=True)
    lede_nb = models.TextField(_("lede (nb)"), max_length=600, blank=True)
    lede_en = models.TextField(_("lede (en)"), max_length=600, blank=True)
    thanks_nb = models.TextField(_("thank-you text (nb)"), max_length=600, blank=True)
    thanks_en = models.TextField(_("thank-you text (en)"), max_length=600, blank=True)
    signature_nb = models.TextField(_("e-mail signature (nb)"), max_length=600, blank=True)
    signature_en = models.TextField(_("e-mail signature (en)"), max_length=600, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("brand")
        verbose_name_plural = _("brand")

    def __str__(self) -> str:
        return str(_("The brand"))


class Attempts(models.Model):
    """How many times one keyed value (an IP address, an e-mail address, each only as an HMAC)
    tried one thing in one window: the rate limits' counters (core/ratelimit.py), shared by every
    web process through the database. A row is worth nothing once its window has passed; the
    worker deletes it then. On PostgreSQL the table is UNLOGGED (no write-ahead log: a crash
    empties it, which lifts the limits for the rest of the window and loses nothing else)."""

    key = models.CharField(max_length=80, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    # When the window ends, in seconds since the epoch (compared with time.time()).
    expires = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = _("rate-limit counter")
        verbose_name_plural = _("rate-limit counters")

    def __str__(self) -> str:
        return f"attempts {self.key} ({self.count})"
