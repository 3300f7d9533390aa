from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from tillit.embed import urls as embed_urls
from tillit.ops import health
from tillit.rights import views as rights_views
from tillit.site import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("healthz/ready", health.ready, name="ready"),
    path("metrics", health.metrics, name="metrics"),
    path("console/", admin.site.urls),
    path("brand.css", views.brand_css, name="brand-css"),
    path("brand/logo", views.brand_logo, name="brand-logo"),
    path("", include("tillit.audit.urls")),
    path("", include("tillit.embed.urls")),
    path(
        "partners/<slug:slug>/opendsr/callback",
        rights_views.partner_callback,
        name="rights-callback",
    ),
    *i18n_patterns(
        path("", include("tillit.site.urls")),
        path("", include("tillit.consent.urls")),
        path("", include("tillit.rights.urls")),
        path("", include("tillit.contact.urls")),
        path("", include("tillit.offers.urls")),
        path("", include(embed_urls.framed)),
        prefix_default_language=False,
    ),
]

handler400 = "tillit.site.views.bad_request"
handler404 = "tillit.site.views.not_found"
handler500 = "tillit.site.views.server_error"
handler403 = "tillit.console.security.forbidden"
