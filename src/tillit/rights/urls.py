from django.urls import path

from tillit.rights import views

app_name = "rights"
urlpatterns = [
    path("privacy/", views.centre, name="centre"),
    path("privacy/verify/<uuid:challenge_id>/", views.verify, name="verify"),
    path("privacy/confirm/<uuid:challenge_id>/", views.confirm, name="confirm"),
    path("privacy/requests/<uuid:request_id>/", views.done, name="done"),
    path("privacy/download/<str:token>/", views.download, name="download"),
    path("privacy/partner-answer/<str:token>/", views.partner_answer, name="partner-answer"),
]
