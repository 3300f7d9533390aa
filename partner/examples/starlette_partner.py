"""A whole partner in a Starlette app, its endpoint at <host>/broker/tillit, keeping what it
receives in memory (a real partner gives its own Store). Serve it with any ASGI server:

    TILLIT_SECRET=... granian --interface asgi examples.starlette_partner:app
"""

import os

from starlette.applications import Starlette
from starlette.routing import Mount

from tillit_partner import MemoryStore, Partner
from tillit_partner.asgi import App

partner = Partner(secret=os.environ["TILLIT_SECRET"], store=MemoryStore())
app = Starlette(routes=[Mount("/broker/tillit", app=App(partner))])
