"""Background work of the outcomes app (Django's tasks framework).

With ``ANAGEN_TASKS=database`` a write to the clinical tables enqueues ``rebuild_snapshot``
for its clinic (outcomes.signals) and `anagen db_worker` runs it off the request path. With
the default immediate backend nothing is enqueued on write (the page rebuilds lazily).
"""

from __future__ import annotations

from django.tasks import task


@task(queue_name="default")
def rebuild_snapshot(clinic_id: int) -> str:
    """Bring the clinic's analysis snapshot up to date; "fresh" if it already was."""
    from anagen.accounts.clinic_time import in_clinic_time
    from anagen.accounts.models import Clinic
    from anagen.outcomes.services import rebuild_analysis_snapshot

    clinic = Clinic.objects.filter(pk=clinic_id).first()
    if clinic is None:
        return "no such clinic"
    with in_clinic_time(clinic):  # the snapshot's "today" is the clinic's
        return "rebuilt" if rebuild_analysis_snapshot(clinic, force=False) else "fresh"
