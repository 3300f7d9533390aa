"""The brand and the rate limits' counters now belong to core (core/migrations/0001): the
site app forgets them; their tables are core's."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("site", "0002_attempts"),
        ("core", "0001_brand_and_counters"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Brand"),
                migrations.DeleteModel(name="Attempts"),
            ]
        ),
    ]
