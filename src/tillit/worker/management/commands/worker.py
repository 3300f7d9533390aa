import signal
from types import FrameType

from django.core.management.base import BaseCommand, CommandParser

from tillit.worker.loop import Loop


class Command(BaseCommand):
    help = "Deliver leads, send e-mail and apply the retention rules, until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=0.5,
            help="seconds to sleep when there is nothing to do",
        )
        parser.add_argument("--batch", type=int, default=64, help="deliveries claimed at once")
        parser.add_argument(
            "--drain", action="store_true", help="do everything that is due now, then exit"
        )

    def handle(self, *args: object, **options: object) -> None:
        loop = Loop(interval=float(options["interval"]), batch=int(options["batch"]))  # type: ignore[arg-type]
        if options["drain"]:
            try:
                loop.drain()
            finally:
                loop.close()
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            # Finish the batch in hand; a second signal kills at once.
            loop.running = False
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        loop.forever()
