from django.core.management.base import BaseCommand

from tillit.worker import retention


class Command(BaseCommand):
    help = "Apply every retention rule now (the worker also does this every minute):\n" + "\n".join(
        f"- {rule.__name__}: {' '.join((rule.__doc__ or '').split())}" for rule in retention.RULES
    )

    def handle(self, *args: object, **options: object) -> None:
        for name, count in retention.run_all().items():
            self.stdout.write(f"{name}: {count}")
