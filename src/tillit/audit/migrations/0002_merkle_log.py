"""The hash chain becomes the leaves of the Merkle log (docs/log.md, "From the chain").

Every event is kept as it was, in the same order, and gets its leaf hash; the sequencer gives
them their places in the tree at its first run. One last event, `log.migrated`, carries the
chain's head as it was (and whether it verified), so the old chain's end is itself in the log.
"""

import hashlib
import json

from django.core.management.color import no_style
from django.db import migrations, models
from django.utils import timezone

from tillit.audit import entries
from tillit_partner import tree

GENESIS = "0" * 64


def _old_hash(event, prev_hash):
    body = json.dumps(
        {
            "seq": event.seq,
            "at": event.at.isoformat(),
            "action": event.action,
            "actor": event.actor,
            "target": event.target,
            "data": event.data,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _leaf(event):
    entry = entries.encode(
        at=event.at,
        action=event.action,
        actor=event.actor,
        target=event.target,
        data=event.data,
        nonce=event.nonce,
    )
    return tree.leaf_hash(entry).hex()


def _loggable(data):
    """Data the log can encode as it is; anything else kept whole, as its JSON text."""
    try:
        entries.check(data)
    except entries.UnloggableValue:
        return {"unloggable_json": json.dumps(data, sort_keys=True)}
    return data


def chain_into_log(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditHead = apps.get_model("audit", "AuditHead")
    prev, expected, intact, count, changed = GENESIS, 1, True, 0, []
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        intact = intact and (
            event.seq == expected
            and event.prev_hash == prev
            and _old_hash(event, event.prev_hash) == event.hash
        )
        prev, expected, count = event.hash, event.seq + 1, count + 1
        event.data = _loggable(event.data)
        event.nonce = entries.new_nonce()
        event.leaf_hash = _leaf(event)
        changed.append(event)
        if len(changed) == 2000:
            AuditEvent.objects.bulk_update(changed, ["data", "nonce", "leaf_hash"])
            changed = []
    AuditEvent.objects.bulk_update(changed, ["data", "nonce", "leaf_hash"])
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None:
        intact = intact and (head.seq, head.hash) == (count, prev)
    if count == 0:
        return
    last = AuditEvent(
        seq=expected,
        at=timezone.now(),
        action="log.migrated",
        actor="migration",
        target="log",
        data={"chain_events": count, "chain_head": prev, "chain_verified": intact},
        nonce=entries.new_nonce(),
        prev_hash="",
        hash="",
    )
    last.leaf_hash = _leaf(last)
    last.save(force_insert=True)


def restart_numbering(apps, schema_editor):
    """PostgreSQL's new identity column starts at 1; the events already there come first."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    for sql in schema_editor.connection.ops.sequence_reset_sql(no_style(), [AuditEvent]):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="leaf_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="nonce",
            field=models.CharField(default="", max_length=32),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="leaf_index",
            field=models.BigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.RunPython(chain_into_log, migrations.RunPython.noop, elidable=False),
        migrations.RemoveField(model_name="auditevent", name="prev_hash"),
        migrations.RemoveField(model_name="auditevent", name="hash"),
        migrations.DeleteModel(name="AuditHead"),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigAutoField(primary_key=True, serialize=False),
        ),
        migrations.RunPython(restart_numbering, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="leaf_hash",
            field=models.CharField(db_index=True, max_length=64),
        ),
    ]
