import json
from pathlib import Path
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from tillit_partner import note

from tillit.audit import bundle, logkey, sequencer, witnesses
from tillit.audit.models import AuditEvent, LogAlarm, Witness, record


class Command(BaseCommand):
    help = (
        "The consent log: integrate (give waiting events their places and sign a checkpoint), "
        "verify-receipt FILE (check a consent receipt offline), rotate-key, witness "
        "add|list|remove, export (entries for an auditor), alarms, resolve ID."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        integrate = sub.add_parser("integrate", help="integrate now and sign a checkpoint")
        integrate.add_argument("--witness", action="store_true", help="then ask the witnesses")
        receipt = sub.add_parser("verify-receipt", help="check a consent receipt (JSON) offline")
        receipt.add_argument("file", type=Path)
        receipt.add_argument("--key", default="", help="the log's verifier key, to pin it")
        receipt.add_argument("--witness-key", action="append", default=[], dest="witness_keys")
        sub.add_parser("rotate-key", help="a new signing key; the next checkpoint hands over")
        add = sub.add_parser("witness", help="witnesses: add NAME URL VKEY | list | remove NAME")
        add.add_argument("verb", choices=["add", "list", "remove"])
        # Not "args": Django keeps that name for its own positional arguments.
        add.add_argument("words", nargs="*", metavar="ARG")
        export = sub.add_parser(
            "export", help="entries in tree order, one JSON line each, for an auditor"
        )
        export.add_argument("--start", type=int, default=0, help="the first leaf index")
        export.add_argument("--end", type=int, default=None, help="the leaf index after the last")
        sub.add_parser("alarms", help="list the open alarms")
        resolve = sub.add_parser("resolve", help="mark an alarm resolved, once understood")
        resolve.add_argument("alarm", type=int)
        resolve.add_argument("--reason", required=True, help="what was found")

    def handle(self, *args: object, **options: Any) -> None:
        getattr(self, "do_" + options["action"].replace("-", "_"))(options)

    def do_integrate(self, options: dict[str, Any]) -> None:
        done = sequencer.integrate()
        made = sequencer.sign_checkpoint(force=True)
        counts = {"entries": done.entries, "size": done.size}
        if made:
            said = _(
                "integrated %(entries)s entries; the tree has %(size)s; "
                "signed checkpoint %(signed)s"
            ) % {**counts, "signed": made.size}
        else:
            said = _("integrated %(entries)s entries; the tree has %(size)s") % counts
        self.stdout.write(said)
        if options["witness"]:
            with httpx.Client() as client:
                cosigned = witnesses.step(client)
            self.stdout.write(_("%(count)s witnesses co-signed") % {"count": cosigned})

    def do_verify_receipt(self, options: dict[str, Any]) -> None:
        try:
            receipt = json.loads(options["file"].read_text())
            report = bundle.check(
                receipt, log_key=options["key"], witness_keys=tuple(options["witness_keys"])
            )
        except (OSError, ValueError) as error:
            raise CommandError(
                _("cannot read %(file)s: %(error)s") % {"file": options["file"], "error": error}
            ) from None
        except bundle.ReceiptInvalid as error:
            raise CommandError(
                _("the receipt does not verify: %(error)s") % {"error": error}
            ) from None
        if report.pending:
            self.stdout.write(
                _("the receipt was made before its events were in the log: fetch it again")
            )
            return
        self.stdout.write(
            _("verified: %(count)s entries in the log's tree of %(size)s (%(actions)s)")
            % {
                "count": len(report.entries),
                "size": report.checkpoint_size,
                "actions": ", ".join(report.entries),
            }
        )
        where = (
            _("named in the receipt: compare it with the one the operator publishes")
            if report.log_key_from_receipt
            else pgettext("a key given with --key", "given")
        )
        signed = _("signed by %(key)s (%(where)s)") % {"key": report.log_key, "where": where}
        cosigners = ", ".join(report.witnesses) or _("no witness")
        self.stdout.write("  " + signed)
        self.stdout.write("  " + _("co-signed by %(witnesses)s") % {"witnesses": cosigners})

    def do_rotate_key(self, options: dict[str, Any]) -> None:
        keys = logkey.rotate()
        record("log.key_rotated", actor="cli", target="log", vkey=keys.active.vkey)
        self.stdout.write(
            _(
                "new log key %(key)s\nthe next checkpoint is signed by both keys; then the old "
                "private key is destroyed. Give the new key to every witness."
            )
            % {"key": keys.active.vkey}
        )

    def do_witness(self, options: dict[str, Any]) -> None:
        verb, rest = options["verb"], options["words"]
        if verb == "list":
            for w in Witness.objects.order_by("name"):
                state = _("active") if w.active else _("removed")
                cosigned = _("co-signed %(size)s") % {"size": w.size}
                self.stdout.write(f"{w.name}  {w.url}  {state}  {cosigned} {w.last_error}".rstrip())
            return
        if verb == "remove" and len(rest) == 1:
            Witness.objects.filter(name=rest[0]).update(active=False)
            record("log.witness_removed", actor="cli", target=f"witness:{rest[0]}")
            return
        if verb != "add" or len(rest) != 3:
            raise CommandError(
                _("usage: tillit log witness add NAME URL VKEY | list | remove NAME")
            )
        name, url, vkey = rest
        try:
            verifier = note.CosignatureVerifier.from_vkey(vkey)
        except note.NoteError as error:
            raise CommandError(
                _("not a witness verifier key: %(error)s") % {"error": error}
            ) from None
        if verifier.name != name:
            raise CommandError(
                _("the key is named %(found)s, not %(name)s")
                % {"found": repr(verifier.name), "name": repr(name)}
            )
        Witness.objects.update_or_create(
            name=name, defaults={"url": url, "vkey": vkey, "active": True}
        )
        record("log.witness_added", actor="cli", target=f"witness:{name}")
        self.stdout.write(
            _("added witness %(name)s; give it the log's key %(key)s")
            % {"name": name, "key": logkey.load().active.vkey}
        )

    def do_export(self, options: dict[str, Any]) -> None:
        """Each line: the leaf index and the entry's exact bytes (as a JSON string), which an
        auditor hashes and checks against the signed tree (docs/log.md). Pseudonymous, but
        give it only to whom the operator would show its audit log."""
        rows = AuditEvent.objects.filter(leaf_index__gte=options["start"])
        if options["end"] is not None:
            rows = rows.filter(leaf_index__lt=options["end"])
        for event in rows.order_by("leaf_index").iterator(chunk_size=2000):
            line = {"leaf_index": event.leaf_index, "entry": event.entry().decode()}
            self.stdout.write(json.dumps(line, ensure_ascii=False))

    def do_alarms(self, options: dict[str, Any]) -> None:
        for alarm in LogAlarm.objects.filter(resolved_at__isnull=True):
            self.stdout.write(
                f"#{alarm.pk} {alarm.raised_at:%Y-%m-%d %H:%M} {alarm.kind}: {alarm.detail}"
            )

    def do_resolve(self, options: dict[str, Any]) -> None:
        won = LogAlarm.objects.filter(pk=options["alarm"], resolved_at__isnull=True).update(
            resolved_at=timezone.now(), resolved_by="cli", resolution=options["reason"][:300]
        )
        if not won:
            raise CommandError(_("no open alarm #%(alarm)s") % {"alarm": options["alarm"]})
        record("log.alarm_resolved", actor="cli", target=f"alarm:{options['alarm']}")
