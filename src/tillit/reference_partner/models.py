import uuid

from django.db import models


class Lead(models.Model):
    """A lead as the partner (the processor) holds it. tillit keeps none of this."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lead_id = models.UUIDField(unique=True, help_text="tillit's id; the idempotency key")
    body_sha256 = models.CharField(max_length=64)
    subject_ref = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254)
    phone = models.CharField(max_length=40, blank=True)
    country = models.CharField(max_length=2)
    language = models.CharField(max_length=5)
    consents = models.JSONField(default=list)
    received_at = models.DateTimeField(auto_now_add=True)
    # Set by the operator's rights requests: use limited (Art. 18), objected to (Art. 21).
    restricted = models.BooleanField(default=False)
    objected = models.BooleanField(default=False)
    # Test traffic (`tillit partner-check`): no real person; shown as such, never as a lead.
    test = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return str(self.lead_id)

    def as_dict(self) -> dict[str, object]:
        return {
            "partner_lead_id": str(self.id),
            "lead_id": str(self.lead_id),
            "subject_ref": self.subject_ref,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "country": self.country,
            "language": self.language,
            "consents": self.consents,
            "received_at": self.received_at.isoformat(),
            "restricted": self.restricted,
            "objected": self.objected,
            "test": self.test,
        }


class DsrRequest(models.Model):
    """A rights request from the operator (OpenDSR shape), and what was done about it."""

    subject_request_id = models.UUIDField(primary_key=True)
    request_type = models.CharField(max_length=20)
    subject_ref = models.CharField(max_length=64)
    status = models.CharField(max_length=12, default="pending")
    callback_urls = models.JSONField(default=list)
    received_at = models.DateTimeField()
    # When the status last changed: a request in progress for long was left by a dead worker.
    changed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    leads_affected = models.PositiveIntegerField(default=0)
    # For access and portability: the person's leads as they were when the request came.
    results = models.JSONField(null=True, blank=True)
    results_url = models.CharField(max_length=300, blank=True)
    # A correction's values, kept only while the request waits (PARTNER_DSR_HOLD_SECONDS).
    changes = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.request_type} {self.subject_request_id}"


class Message(models.Model):
    """A message the operator asked the partner to deliver to a person it holds (an offer):
    the partner's own mailbox, standing in for its e-mail to the person."""

    message_id = models.UUIDField(primary_key=True, help_text="tillit's id; the idempotency key")
    lead = models.ForeignKey(Lead, null=True, on_delete=models.SET_NULL, related_name="messages")
    to = models.CharField(max_length=254)
    language = models.CharField(max_length=5)
    title = models.CharField(max_length=200)
    text = models.TextField()
    valid_until = models.CharField(max_length=10)
    opt_out_url = models.CharField(max_length=500)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at"]

    def __str__(self) -> str:
        return f"{self.title} to {self.to}"

    def as_dict(self) -> dict[str, object]:
        return {
            "message_id": str(self.message_id),
            "to": self.to,
            "language": self.language,
            "title": self.title,
            "text": self.text,
            "valid_until": self.valid_until,
            "opt_out_url": self.opt_out_url,
            "received_at": self.received_at.isoformat(),
        }


class WitnessedLog(models.Model):
    """The latest checkpoint this partner, as a C2SP tlog-witness, cosigned for one log: the
    only state a witness keeps. A log it has never cosigned has no row, or a row of size 0
    with the empty tree's root and no cosigned_at."""

    origin = models.CharField(max_length=500, unique=True)
    size = models.PositiveBigIntegerField(default=0)
    # Base64, as the checkpoint spells it.
    root = models.CharField(max_length=44)
    # The cosigned checkpoint as monitors are given it: its text, the log's signatures that
    # verified and this witness's cosignature.
    checkpoint = models.TextField(blank=True)
    cosigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.origin} at {self.size}"
