import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tillit.settings")
django.setup(set_prefix=False)

from tillit.core.lean import Application  # noqa: E402  (after setup: it reads settings)

application = Application()
