from django.urls import path
from tillit_partner.django import urls as protocol

from tillit.reference_partner import views, witness

urlpatterns = [
    path("", views.index),
    path("leads.json", views.leads_json),
    path("messages.json", views.messages_json),
    path("privacy", views.privacy),
    path("embed", views.embed),
    path("openapi.json", views.openapi),
    # The protocol (leads, messages, OpenDSR, healthz) and the C2SP tlog-witness (whose
    # submission and monitoring prefix is <endpoint>/witness), served by the partner library.
    *protocol(views.PARTNER),
    # Not part of the spec: the witness's key and state, for operators and tests.
    path("witness/state", witness.state),
]
