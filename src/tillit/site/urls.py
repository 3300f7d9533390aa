from django.urls import path

from tillit.policy import views as policy
from tillit.site import views

app_name = "site"
urlpatterns = [
    path("", views.signup, name="signup"),
    path("sent/", views.sent, name="sent"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("receipt/<uuid:receipt_id>/", views.receipt, name="receipt"),
    path("receipt/<uuid:receipt_id>.json", views.receipt, {"fmt": "json"}, name="receipt-json"),
    path("personvern/", policy.current, name="policy"),
    path("personvern.json", policy.as_json, name="policy-json"),
    path("personvern/endringer/", policy.changed, name="policy-changes"),
    path("personvern/v/<int:number>/", policy.numbered, name="policy-version"),
    path("personvern/v/<int:number>.json", policy.as_json, name="policy-version-json"),
]
