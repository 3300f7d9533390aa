"""tillit-partner: the partner's side of tillit's lead, message and rights protocol.

    from tillit_partner import MemoryStore, Partner

    partner = Partner(secret=b"...", store=MemoryStore())
    answer = partner.handle(Request("POST", "/leads", body, headers))

See README.md; tillit_partner.django and tillit_partner.asgi serve it from a framework.
"""

from tillit_partner.core import Partner, Request, Response
from tillit_partner.protocol import Consent, DsrRequest, Invalid, Lead, Message
from tillit_partner.signing import SignatureError, sign, verify
from tillit_partner.store import MemoryStore, RequestRecord, Store, StoredLead, withdrawn

__version__ = "0.1.0"
__all__ = [
    "Consent",
    "DsrRequest",
    "Invalid",
    "Lead",
    "MemoryStore",
    "Message",
    "Partner",
    "Request",
    "RequestRecord",
    "Response",
    "SignatureError",
    "Store",
    "StoredLead",
    "sign",
    "verify",
    "withdrawn",
]
