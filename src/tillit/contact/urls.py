from django.urls import path

from tillit.contact import views

app_name = "contact"
urlpatterns = [
    path("contact/", views.contact, name="form"),
    path("contact/<uuid:message_id>/", views.sent, name="sent"),
]
