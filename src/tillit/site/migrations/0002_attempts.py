"""The rate limits' counters, in the database every web process shares."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def unlogged(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Counters need no write-ahead log: a crash that empties them loses nothing worth keeping,
    # and they stay out of WAL archives, replicas and base backups.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE site_attempts SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("site", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Attempts",
            fields=[
                ("key", models.CharField(max_length=80, primary_key=True, serialize=False)),
                ("count", models.PositiveIntegerField(default=0)),
                ("expires", models.BigIntegerField(db_index=True)),
            ],
            options={
                "verbose_name": "rate-limit counter",
                "verbose_name_plural": "rate-limit counters",
            },
        ),
        migrations.RunPython(unlogged, migrations.RunPython.noop),
    ]
