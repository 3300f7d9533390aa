"""Stand-ins for outside services, on 127.0.0.1, so that no request leaves the machine."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.processes import free_port

MEASUREMENT_ID = "G-TEST123"

# What the real gtag.js does that matters here: it reads the consent state from the data layer,
# sets the _ga cookies only while analytics_storage is granted, and sends a hit.
TAG_JS = """
(function () {
  var layer = window.dataLayer || [];
  var granted = false;
  for (var i = 0; i < layer.length; i++) {
    var c = layer[i];
    if (c[0] === "consent") granted = c[2].analytics_storage === "granted";
  }
  if (!granted) return;
  // Like cookie_domain "auto": the highest domain that takes a cookie (none for an IP).
  var host = location.hostname;
  var domain = /^[0-9.]+$/.test(host) ? "" : "; domain=" + host.split(".").slice(-2).join(".");
  document.cookie = "_ga=GA1.1.1234.5678; path=/; max-age=63072000" + domain;
  document.cookie = "_ga_TEST123=GS1.1.1234; path=/; max-age=63072000" + domain;
  new Image().src = "%(origin)s/g/collect?tid=%(id)s";
})();
"""


class StandIn:
    """A stand-in for Google's servers: serves the tag and notes every request it gets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                stand_in.requests.append(self.path)
                if self.path.startswith("/gtag/js"):
                    body = (TAG_JS % {"origin": stand_in.origin, "id": MEASUREMENT_ID}).encode()
                    kind = "text/javascript"
                else:
                    body, kind = b"GIF89a", "image/gif"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def tag_requests(self) -> list[str]:
        return [r for r in self.requests if r.startswith("/gtag/js")]

    def close(self) -> None:
        self.server.shutdown()
