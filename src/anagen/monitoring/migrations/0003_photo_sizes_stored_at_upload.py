"""Photo sizes are stored at upload; the image field no longer reads them from the file.

With ``width_field``/``height_field`` Django opened every photo's file each time a row was
loaded whose sizes were empty (all of them: the sizes were never saved), and a missing file
made the timeline, progress page and progress report fail. The sizes of stored photos are
filled in here from their files (a file that cannot be read leaves them empty).
"""

from django.db import migrations, models
from PIL import Image

import anagen.monitoring.models


def fill_sizes(apps, schema_editor):
    photo = apps.get_model("monitoring", "Photo")
    for row in photo.objects.filter(width_px__isnull=True).only("pk", "image").iterator():
        try:
            with row.image.open("rb") as fh, Image.open(fh) as img:
                width, height = img.size
        except (OSError, ValueError):
            continue  # missing or unreadable file: sizes stay unknown
        photo.objects.filter(pk=row.pk).update(width_px=width, height_px=height)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_alter_historicaladverseevent_history_change_reason_and_more"),
    ]

    operations = [
        migrations.AlterField(
            model_name="photo",
            name="image",
            field=models.ImageField(upload_to=anagen.monitoring.models.photo_upload_to),
        ),
        migrations.RunPython(fill_sizes, migrations.RunPython.noop),
    ]
