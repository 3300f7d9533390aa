"""The checks of messages to the people a partner holds (docs/partners.md: Messages to the
people you hold)."""

from __future__ import annotations

import uuid
from secrets import token_hex

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tillit_partner import signing

from tillit.partners.conformance.identities import encode, message
from tillit.partners.conformance.registry import check
from tillit.partners.conformance.session import Session


@check("messages.offer", gettext_lazy("An offer is delivered (201), a repeat gets 200"))
def messages_offer(s: Session) -> str | None:
    lead, _receipt = s.stored()
    offer = message(lead.subject_ref)
    s.delivered(
        s.post_message(offer),
        offer,
        (201,),
        _("an offer to a test lead with consent to offers, signed `message`"),
    )
    s.delivered(
        s.post_message(offer), offer, (200,), _("the same offer again (the same message_id)")
    )
    return None


@check("messages.unknown", gettext_lazy("A message to nobody the partner holds gets 404"))
def messages_unknown(s: Session) -> str | None:
    offer = message(str(uuid.uuid4()))
    answer = s.post_message(offer)
    if answer.status != 404:
        raise s.fail(
            answer,
            _("an offer to a subject_ref the partner was never sent"),
            _("404: the partner holds nobody by that reference"),
        )
    return None


@check("messages.signature", gettext_lazy("A message without a good signature gets 401"))
def messages_signature(s: Session) -> str | None:
    lead, _receipt = s.stored()
    offer = message(lead.subject_ref)
    required = _("401, and nothing delivered: anyone could write to the partner's customers")
    forged = signing.sign(token_hex(32).encode(), encode(offer), purpose="message")
    for sent, answer in (
        (_("an offer without Tillit-Signature"), s.post_message(offer, unsigned=True)),
        (
            _("an offer signed with a secret that is not the shared one"),
            s.post_message(offer, signature=forged),
        ),
    ):
        if answer.status != 401:
            raise s.fail(answer, sent, required)
    s.delivered(
        s.post_message(offer),
        offer,
        (201,),
        _("the same offer signed properly, after the refused ones"),
    )
    return None
