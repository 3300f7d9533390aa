"""The brand and the rate limits' counters move from the site app to core, the shared base below
the domain (the site is one surface of several that read them). Their tables stay, renamed;
their content types (and so the permissions a role holds on the brand) follow them."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def _rename(apps: StateApps, source: str, target: str) -> None:
    """The content types of the two models take the app label `target`. Should `target`'s
    already exist (made before this ran, so granted to nobody yet), they give way: the
    permissions kept are the old ones, with every grant of them."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ("brand", "attempts"):
        old = ContentType.objects.filter(app_label=source, model=model).first()
        if old is None:
            continue
        ContentType.objects.filter(app_label=target, model=model).delete()
        old.app_label = target
        old.save(update_fields=["app_label"])


def content_types_follow(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rename(apps, "site", "core")


def content_types_back(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _rename(apps, "core", "site")


BRAND_FIELDS = [
    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
    ("name", models.CharField(blank=True, max_length=200, verbose_name="name")),
    ("email", models.EmailField(blank=True, max_length=254, verbose_name="e-mail address")),
    ("phone", models.CharField(blank=True, max_length=40, verbose_name="phone")),
    ("address", models.CharField(blank=True, max_length=300, verbose_name="address")),
    ("logo", models.BinaryField(blank=True, default=b"", max_length=200000, verbose_name="logo")),
    ("logo_type", models.CharField(blank=True, max_length=40)),
    ("background", models.CharField(blank=True, max_length=7, verbose_name="background")),
    ("text", models.CharField(blank=True, max_length=7, verbose_name="text")),
    ("accent", models.CharField(blank=True, max_length=7, verbose_name="accent")),
    ("accent_text", models.CharField(blank=True, max_length=7, verbose_name="text on the accent")),
    ("lede_nb", models.TextField(blank=True, max_length=600, verbose_name="lede (nb)")),
    ("lede_en", models.TextField(blank=True, max_length=600, verbose_name="lede (en)")),
    ("thanks_nb", models.TextField(blank=True, max_length=600, verbose_name="thank-you text (nb)")),
    ("thanks_en", models.TextField(blank=True, max_length=600, verbose_name="thank-you text (en)")),
    ("signature_nb", models.TextField(blank=True, max_length=600, verbose_name="e-mail signature (nb)")),
    ("signature_en", models.TextField(blank=True, max_length=600, verbose_name="e-mail signature (en)")),
    ("updated_at", models.DateTimeField(auto_now=True)),
]  # fmt: skip


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("site", "0002_attempts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Brand",
                    fields=BRAND_FIELDS,
                    options={
                        "verbose_name": "brand",
                        "verbose_name_plural": "brand",
                        "db_table": "site_brand",
                    },
                ),
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
                        "db_table": "site_attempts",
                    },
                ),
            ]
        ),
        # The tables take core's names (a rename: rows, indexes and UNLOGGED stay as they were).
        migrations.AlterModelTable(name="brand", table=None),
        migrations.AlterModelTable(name="attempts", table=None),
        migrations.RunPython(content_types_follow, content_types_back),
    ]
