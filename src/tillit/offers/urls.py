from django.urls import path

from tillit.offers import views

app_name = "offers"
urlpatterns = [path("offers/stop/<str:token>/", views.opt_out, name="opt-out")]
