"""Store the ICH E2A criteria that older adverse events imply but lack.

Since the services add them on entry, a grade-4 event is "life-threatening", a grade-5 one
"death" and one whose action was "Hospitalised" "hospitalization", and each is serious (the
``serious_or_high_grade`` flag). Events stored before a rule held lacked them; the readers
compensate (``AdverseEvent.serious_criteria``), but a query on the stored column missed them.
Each event changed gets a history row saying why (the change is to clinical data)."""

from django.db import migrations
from django.db.models import Q
from django.utils import timezone

REASON = "Stored the seriousness its grade or action implies (data migration 0010)"


def implied(grade, seriousness, action):
    # Frozen copy of ctcae.implied_seriousness as of this migration.
    criteria = set(seriousness or ())
    if grade == 5:
        criteria.add("death")
    if grade == 4:
        criteria.add("life_threatening")
    if action == "hospitalised":
        criteria.add("hospitalization")
    return sorted(criteria)


def store_implied_seriousness(apps, schema_editor):
    AdverseEvent = apps.get_model("monitoring", "AdverseEvent")
    Historical = apps.get_model("monitoring", "HistoricalAdverseEvent")
    now = timezone.now()
    fields = [f.attname for f in AdverseEvent._meta.concrete_fields]
    older = AdverseEvent.objects.filter(Q(grade__gte=4) | Q(action_taken="hospitalised"))
    for event in older.order_by("pk").iterator():
        criteria = implied(event.grade, event.seriousness, event.action_taken)
        if set(criteria) == set(event.seriousness or ()) and event.serious_or_high_grade:
            continue
        event.seriousness = criteria
        event.serious_or_high_grade = True
        event.save(update_fields=["seriousness", "serious_or_high_grade"])
        Historical.objects.create(
            **{name: getattr(event, name) for name in fields},
            history_date=now,
            history_type="~",
            history_change_reason=REASON,
            history_user=None,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0009_measurement_area_not_given"),
    ]

    operations = [
        # Not reversed: the criteria were true before and stay true.
        migrations.RunPython(store_implied_seriousness, migrations.RunPython.noop),
    ]
