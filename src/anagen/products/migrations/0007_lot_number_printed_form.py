"""Lot numbers in the form they print (NFKC), as receive_lot stores new ones since
2026-12-05: a lot received as "ＡＤ-2605" is "AD-2605", so a second receipt of the same
number is found and refused. A lot whose normal form would clash with another lot of the
same product keeps its spelling (two such lots need a person to decide which is wrong).
The change is a normalisation of how the same characters are written, made in place."""

import unicodedata

from django.db import migrations


def normalise_lot_numbers(apps, schema_editor):
    Lot = apps.get_model("products", "Lot")
    for lot in Lot.objects.all().only("id", "product_id", "lot_number"):
        printed = unicodedata.normalize("NFKC", lot.lot_number)
        if printed == lot.lot_number:
            continue
        clash = (
            Lot.objects.filter(product_id=lot.product_id, lot_number__iexact=printed)
            .exclude(pk=lot.pk)
            .exists()
        )
        if not clash:
            Lot.objects.filter(pk=lot.pk).update(lot_number=printed)


class Migration(migrations.Migration):
    dependencies = [("products", "0006_product_components")]

    operations = [migrations.RunPython(normalise_lot_numbers, migrations.RunPython.noop)]
