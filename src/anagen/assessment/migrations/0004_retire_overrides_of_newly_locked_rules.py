"""Ruleset 2026.12-3 locked seven BLOCK rules; retire active overrides that weakened them.

An active override that disables one of these rules, or sets it below BLOCK, would now be
refused by the engine, so screening with it would fail. Such overrides are retired (never
deleted) with a reason that names the ruleset version. Reverse: nothing to undo (the
retirement is a record of what happened).
"""

from django.db import migrations
from django.utils import timezone

# Frozen here: a migration must not read today's screening_rules.yaml.
NEWLY_LOCKED = (
    "EXO-IMMUNOSUPPRESSION",
    "PRP-PREGNANCY",
    "MIN-SCALP-SITE",
    "MIN-PREGNANCY",
    "TX-MALIGNANCY-ACTIVE",
    "TX-PREGNANCY",
    "MN-INFECTION",
)
REASON = (
    "Retired automatically: ruleset 2026.12-3 locked this rule (direct patient harm), "
    "so it can no longer be disabled or weakened."
)


def retire(apps, schema_editor):
    override = apps.get_model("assessment", "ScreeningRuleOverride")
    history = apps.get_model("assessment", "HistoricalScreeningRuleOverride")
    now = timezone.now()
    weakening = override.objects.filter(rule_id__in=NEWLY_LOCKED, retired_at__isnull=True).exclude(
        action="set_outcome", outcome="BLOCK"
    )
    for row in weakening:
        override.objects.filter(pk=row.pk).update(retired_at=now, retire_reason=REASON)
        # Models of a migration send no history signals: the audit row is written here, so
        # the override's history shows when and why it was retired (by no user: the upgrade).
        history.objects.create(
            id=row.pk,
            rule_id=row.rule_id,
            action=row.action,
            outcome=row.outcome,
            reason=row.reason,
            created_at=row.created_at,
            retired_at=now,
            retire_reason=REASON,
            clinic_id=row.clinic_id,
            created_by_id=row.created_by_id,
            retired_by_id=None,
            history_date=now,
            history_change_reason=REASON,
            history_type="~",
            history_user_id=None,
        )


class Migration(migrations.Migration):
    dependencies = [("assessment", "0003_protocol_template_sources")]

    operations = [migrations.RunPython(retire, migrations.RunPython.noop)]
