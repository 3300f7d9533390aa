from django.urls import path

from tillit.consent import views

app_name = "consent"
urlpatterns = [
    path("cookies/", views.settings_page, name="settings"),
    path("cookies/choice", views.choose, name="choose"),
    path("cookies/history.json", views.history_json, name="history-json"),
]
