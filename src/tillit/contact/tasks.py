"""E-mails of the contact form. Arguments are ids; addresses come from the vault."""

from __future__ import annotations

from django.tasks import task

from tillit.core.mail import send_templated


@task()
def send_received(message_id: str) -> None:
    from tillit.contact.models import ContactMessage

    message = ContactMessage.objects.select_related("envelope").filter(id=message_id).first()
    if message is None or message.envelope is None:
        return
    sealed = message.envelope.open()
    send_templated("contact-received", sealed["email"], {"message": message}, message.language)


@task()
def send_reply(message_id: str) -> None:
    """The latest reply, quoted with what the person wrote."""
    from tillit.contact.models import ContactMessage

    message = ContactMessage.objects.select_related("envelope").filter(id=message_id).first()
    if message is None or message.envelope is None:
        return
    sealed = message.envelope.open()
    thread = sealed["thread"].reveal()
    answer = next(t for t in reversed(thread) if t["from"] == "support")
    asked = next(t for t in thread if t["from"] == "person")
    send_templated(
        "contact-reply",
        sealed["email"],
        {"message": message, "answer": answer["text"], "asked": asked["text"]},
        message.language,
    )
