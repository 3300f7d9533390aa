"""The staff console (Django admin behind a password and a TOTP code): partners, deliveries,
rights requests, the audit log, staff accounts. Each role sees only what its permissions allow
(see roles.py).

Nothing here can show personal data: the models it lists hold none. Records that are evidence
(consent, audit) are read-only.

Each domain's screens are a module of this package. Django's admin imports the package, and
importing the modules registers their screens: in a fixed order, which admin.site's registry
keeps, with staff first (it replaces Django's own screens for users and groups).
"""

# isort: off
from tillit.console.admin import staff  # noqa: F401
from tillit.console.admin import partners  # noqa: F401
from tillit.console.admin import subjects  # noqa: F401
from tillit.console.admin import audit  # noqa: F401
from tillit.console.admin import rights  # noqa: F401
from tillit.console.admin import contact  # noqa: F401
from tillit.console.admin import offers  # noqa: F401
from tillit.console.admin import disclosure  # noqa: F401
from tillit.console.admin import policy  # noqa: F401
# isort: on
