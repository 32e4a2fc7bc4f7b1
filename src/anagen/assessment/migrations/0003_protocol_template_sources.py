# ruff: noqa: E501  (the texts are frozen verbatim)
"""Shipped protocol-template sources cite the primary source, not the project's REFERENCE.md.

Rows still holding the text they were seeded with get the new text; a source a clinic
changed is left alone. Reversible.
"""

from django.db import migrations

# key: (old, new), frozen here (a migration must not import today's protocols.py).
SOURCES = {
    "exosome_standard": (
        "REFERENCE.md A.3.3 [C]: configurable default 3–4 sessions every 2–4 weeks; 30 G, 1 cm apart from NCT05296863; review at week 12 (exosome trials 4/12/24 weeks, A.2)",
        "No standard regimen; published regimens every 2–5 weeks (NCT05658094, Fukuoka 2015) [C]; configurable default 3–4 sessions every 2–4 weeks; 30 G, 1 cm apart from NCT05296863; review at week 12 (exosome trials 4/12/24 weeks)",
    ),
    "prp_standard": (
        "REFERENCE.md A.3.2 (consensus-style summary, primary source not identified [?]): double spin, 1–1.5×10⁶ platelets/µL, not activated, 5–7 mL at 0.05–0.1 mL/cm², 30 G, 2–4 mm, 1 cm apart",
        "Consensus-style summary, primary source not identified [?]: double spin, 1–1.5×10⁶ platelets/µL, not activated, 5–7 mL at 0.05–0.1 mL/cm², 30 G, 2–4 mm, 1 cm apart",
    ),
    "minoxidil_5": (
        "REFERENCE.md A.3.2 (topical minoxidil 5 % with PRP); trial time points 16 weeks (foam) and 48 weeks (solution), A.2; Olsen 2002/2007 (A.7)",
        "Olsen 2002 JAAD 47:377 (5 % solution, 48 weeks) and Olsen 2007 (5 % foam, 16 weeks) [C]; with PRP per the consensus-style PRP default [?]",
    ),
    "transplant_consult": (
        "Clinical practice (not in REFERENCE.md); FUE graft survival 93.5–96.6 % (A.7 [C])",
        "Clinical practice; FUE graft survival 93.5–96.6 % (FUE megasession, JCD 2019 [C])",
    ),
}


def _swap(apps, forward: bool) -> None:
    ProtocolTemplate = apps.get_model("assessment", "ProtocolTemplate")
    for key, (old, new) in SOURCES.items():
        was, now = (old, new) if forward else (new, old)
        ProtocolTemplate.objects.filter(key=key, source=was).update(source=now)


def forward(apps, schema_editor) -> None:
    _swap(apps, True)


def backward(apps, schema_editor) -> None:
    _swap(apps, False)


class Migration(migrations.Migration):
    dependencies = [("assessment", "0002_alter_historicalconsent_history_change_reason_and_more")]

    operations = [migrations.RunPython(forward, backward)]
