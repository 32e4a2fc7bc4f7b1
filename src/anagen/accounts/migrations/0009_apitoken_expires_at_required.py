# Every token has an expiry once 0008 gave the existing ones theirs. A migration of its own:
# PostgreSQL may refuse to alter a table in the transaction that updated its rows
# ("pending trigger events").

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0008_apitoken_expires_at'),
    ]

    operations = [
        migrations.AlterField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(),
        ),
        migrations.AlterField(
            model_name='historicalapitoken',
            name='expires_at',
            field=models.DateTimeField(),
        ),
    ]
