from django.urls import path

from tillit.audit import views

app_name = "log"
urlpatterns = [
    path("log/checkpoint", views.checkpoint, name="checkpoint"),
    path("log/proof/inclusion", views.inclusion, name="inclusion"),
    path("log/proof/consistency", views.consistency, name="consistency"),
    path(".well-known/tillit-log.json", views.well_known, name="well-known"),
]
