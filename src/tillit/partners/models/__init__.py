"""Partners (the processors that receive leads), their conformance reports and the delivery
outbox. Django finds the app's models here; each lives in the module named for it."""

from tillit.partners.models.check import PartnerCheck
from tillit.partners.models.delivery import DELIVERY, Delivery, DeliveryQuerySet, DeliveryState
from tillit.partners.models.partner import (
    DEFAULT_SECRET_OVERLAP_HOURS,
    PARTNER,
    PARTNER_STATES,
    PARTNER_WRITES,
    Partner,
    PartnerQuerySet,
    PartnerState,
    forget_old_secrets,
    move_partner,
    overlap_text,
)

__all__ = [
    "DEFAULT_SECRET_OVERLAP_HOURS",
    "DELIVERY",
    "PARTNER",
    "PARTNER_STATES",
    "PARTNER_WRITES",
    "Delivery",
    "DeliveryQuerySet",
    "DeliveryState",
    "Partner",
    "PartnerCheck",
    "PartnerQuerySet",
    "PartnerState",
    "forget_old_secrets",
    "move_partner",
    "overlap_text",
]
