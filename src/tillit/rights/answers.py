"""Partners without a rights API answer through a one-time link e-mailed to their privacy
contact: they see what the person asked for (and, for a correction, the corrected values), then
confirm it done, say they hold nothing, or upload the person's data for an access or
portability request. The upload is sealed in the vault until it is in the person's export."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from django import forms
from django.core import signing
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from tillit.rights.models import PartnerTask
from tillit.vault.models import Envelope, Purpose

SALT = "tillit.rights.partner-answer"
# Partners are written to in their own language (Partner.language, English by default: their
# privacy contacts often work across countries). The link opens the answer page in the same
# language; the page follows the language of the address it is opened at, like every public
# page.
# Long enough for an extended request (three months) and the reminders before it.
LIFETIME = timedelta(days=100)
MAX_UPLOAD = 10 * 1024 * 1024
UPLOAD_TYPES = (".json", ".csv", ".txt", ".pdf", ".zip", ".xml")


class Answer:
    DONE = "done"
    NO_DATA = "no_data"


def link(task: PartnerTask) -> str:
    token = signing.dumps(str(task.id), salt=SALT, compress=False)
    with translation.override(task.partner.language):
        return reverse("rights:partner-answer", args=[token])


def task_for(token: str) -> PartnerTask | None:
    """The task a valid link stands for, answered or not; None for a forged or dead link."""
    try:
        task_id = signing.loads(token, salt=SALT, max_age=LIFETIME)
    except signing.BadSignature:
        return None
    return (
        PartnerTask.objects.select_related("partner", "request", "request__details")
        .filter(id=task_id)
        .first()
    )


def safe_name(name: str) -> str:
    """A file name to put in the person's ZIP: no folders, nothing but plain characters."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    return stem.strip(".-")[:80] or "answer"


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(
        choices=[
            (Answer.DONE, _("Done as asked")),
            (Answer.NO_DATA, _("We hold no data about this person")),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose an answer.")},
    )
    file = forms.FileField(required=False)

    def __init__(self, *args: object, wants_file: bool, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wants_file = wants_file

    def clean_file(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("file")
        if upload is None:
            return None
        if upload.size is not None and upload.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        if not (upload.name or "").lower().endswith(UPLOAD_TYPES):
            raise forms.ValidationError(
                _("Please upload JSON, CSV, text, PDF, XML or a ZIP of these.")
            )
        return upload

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if (
            self.wants_file
            and data.get("answer") == Answer.DONE
            and not data.get("file")
            and "file" not in self.errors
        ):
            self.add_error("file", _("Please upload the person's data."))
        return data

    def sealed_file(self) -> Envelope | None:
        upload = self.cleaned_data.get("file")
        if upload is None or self.cleaned_data["answer"] != Answer.DONE:
            return None
        content = upload.read()
        return Envelope.objects.seal(
            {"name": safe_name(upload.name or ""), "data": base64.b64encode(content).decode()},
            Purpose.PARTNER_ANSWER,
        )
