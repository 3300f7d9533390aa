from django.urls import path

from tillit.embed import api, openapi, views

# The API, versioned in its path; outside the language prefixes (the language is asked for).
app_name = "api"
urlpatterns = [
    path("api/v1/openapi.json", openapi.served, name="openapi"),
    path("api/v1/signups", api.signups, name="signups"),
    path("api/v1/signup-form", api.signup_form_description, name="signup-form"),
    path("api/v1/cookie-banner", api.cookie_banner, name="cookie-banner"),
    path("api/v1/cookie-choices", api.cookie_choices, name="cookie-choices"),
    path("embed/signup.js", views.signup_js, name="signup-js"),
    path("embed/banner.js", views.banner_js, name="banner-js"),
]

# The framed form, in the visitor's language (/embed/signup/, /en/embed/signup/).
framed = (
    [
        path("embed/signup/", views.signup, name="signup"),
        path("embed/signup/sent/", views.sent, name="sent"),
    ],
    "embed",
)
