from django.urls import path

from tillit.reference_partner import views, witness

urlpatterns = [
    path("", views.index),
    path("leads", views.leads),
    path("leads.json", views.leads_json),
    path("messages", views.messages),
    path("messages.json", views.messages_json),
    path("privacy", views.privacy),
    path("embed", views.embed),
    path("opendsr/v2/discovery", views.dsr_discovery),
    path("opendsr/v2/requests", views.dsr_requests),
    path("opendsr/v2/requests/<str:request_id>", views.dsr_status),
    path("opendsr/v2/results/<str:request_id>", views.dsr_results),
    path("healthz", views.healthz),
    path("openapi.json", views.openapi),
    # C2SP tlog-witness: <endpoint>/witness is both its submission and its monitoring prefix.
    path("witness/add-checkpoint", witness.add_checkpoint),
    path("witness/<str:origin_hash>/checkpoint", witness.checkpoint),
    # Not part of the spec: the witness's key and state, for operators and tests.
    path("witness/state", witness.state),
]
