"""The console's page for the operator's own site: the snippets to paste (the cookie banner for
every page, the sign-up form where it goes), the sites allowed to use them, what their own
Content-Security-Policy must allow, a preview, and where the API is described (docs/embed.md)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from tillit import datamap


def snippets(site: str) -> dict[str, str]:
    """What an operator pastes into their own pages, with tillit's address in it."""
    return {
        "banner": f'<script src="{site}/embed/banner.js"></script>',
        "form": f'<script src="{site}/embed/signup.js" async></script>',
        "frame": (
            f'<iframe src="{site}/embed/signup/" title="{_("Sign up")}" '
            'width="100%" height="720" style="border:0"></iframe>'
        ),
        # The site's own Google tag, loaded only once statistics are accepted (as tillit's own
        # pages load theirs): nothing reaches Google before the choice, even if banner.js
        # could not be loaded.
        "google": (
            '<script type="text/plain" data-category="analytics" '
            'data-src="https://www.googletagmanager.com/gtag/js?id=G-XXXXXXXXXX"></script>\n'
            '<script type="text/plain" data-category="analytics">\n'
            "  gtag('js', new Date()); gtag('config', 'G-XXXXXXXXXX');\n"
            "</script>"
        ),
        "csp": (f"script-src {site}; style-src {site}; connect-src {site}; frame-src {site}"),
    }


@permission_required("partners.change_partner", raise_exception=True)
def embed(request: HttpRequest) -> HttpResponse:
    dm = datamap.load()
    site = settings.SITE_URL
    return render(
        request,
        "console/embed.html",
        {
            **admin.site.each_context(request),
            "title": _("Your own site"),
            "snippets": snippets(site),
            "origins": dm.embed_origins,
            "operator_file": settings.OPERATOR_FILE,
            "openapi_url": site + reverse("api:openapi"),
            "preview_url": reverse("embed:signup"),
        },
    )
