from django.urls import path

from tillit.site import views

app_name = "site"
urlpatterns = [
    path("", views.signup, name="signup"),
    path("sent/", views.sent, name="sent"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("receipt/<uuid:receipt_id>/", views.receipt, name="receipt"),
    path("receipt/<uuid:receipt_id>.json", views.receipt, {"fmt": "json"}, name="receipt-json"),
    path("personvern/", views.policy, name="policy"),
]
