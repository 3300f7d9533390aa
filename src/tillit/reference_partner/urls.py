from django.urls import path

from tillit.reference_partner import views

urlpatterns = [
    path("", views.index),
    path("leads", views.leads),
    path("leads.json", views.leads_json),
    path("privacy", views.privacy),
    path("embed", views.embed),
    path("healthz", views.healthz),
]
