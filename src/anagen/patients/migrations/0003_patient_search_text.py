"""A search column for patients: names, record number, e-mail and phone without accents or case.

SQLite folds case for ASCII letters only, and no database folds accents in ``icontains``:
"alvarez" did not find "Álvarez". Existing patients get the column filled here.
"""

import unicodedata

from django.db import migrations, models


def _key(text: str) -> str:
    # Frozen copy of core.text.search_key: a migration must not change with the app's code.
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def fill(apps, schema_editor):
    patient = apps.get_model("patients", "Patient")
    for p in patient.objects.all().iterator():
        digits = "".join(ch for ch in p.phone or "" if ch.isdigit())
        parts = (p.given_name, p.family_name, p.medical_record_number, p.email, p.phone, digits)
        text = " | ".join(_key(x or "") for x in parts)
        patient.objects.filter(pk=p.pk).update(search_text=text)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0002_alter_historicalpatient_history_change_reason"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
