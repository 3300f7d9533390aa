"""Readiness and metrics (issue 7): what an operator's monitoring reads, with no personal data,
and metrics not public unless a token is configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tillit.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_liveness_and_readiness(client):
    assert client.get("/healthz").content == b"ok"
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] and body["checks"]["database"] == "ok" and body["checks"]["keys"] == "ok"
    assert body["checks"]["deliveries_oldest_seconds"] == 0


@pytest.mark.promise("P17")
def test_a_stuck_delivery_queue_makes_the_site_not_ready(client, partner, visitor, settings):
    from tillit.subjects.confirmation import confirmation_token
    from tillit.subjects.models import Subject

    client.post("/", visitor)
    client.post(f"/confirm/{confirmation_token(Subject.objects.get())}/")
    later = datetime.now(UTC) + timedelta(seconds=settings.READY_MAX_QUEUE_AGE_SECONDS + 60)
    with time_machine.travel(later):
        stuck = client.get("/healthz/ready")
    assert stuck.status_code == 503 and stuck["Retry-After"] == "30"
    assert stuck.json()["checks"]["deliveries"].startswith("stuck")
    assert "kari" not in stuck.content.decode().lower()


def test_metrics_are_not_public_and_hold_counts_only(client, partner, visitor, settings):
    assert client.get("/metrics").status_code == 404  # no token configured: nothing
    settings.METRICS_TOKEN = "metrics-token-for-tests"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    client.post("/", visitor)
    page = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-tests")
    text = page.content.decode()
    assert page.status_code == 200 and page["Content-Type"].startswith("text/plain")
    assert 'tillit_signups{state="pending"} 1' in text
    assert 'tillit_deliveries{state="waiting"} 1' in text
    assert 'tillit_queue_depth{queue="email_jobs"} 1' in text  # the confirmation e-mail
    assert "tillit_rights_requests_overdue 0" in text
    waiting = AuditEvent.objects.filter(leaf_index__isnull=True).count()
    assert waiting and f"tillit_log_waiting {waiting}" in text  # the sign-up's event, and more
    assert "tillit_log_entries 0" in text and "tillit_log_alarms_open 0" in text
    assert "kari" not in text.lower() and "example.com" not in text
