import django.db.models.functions.text
from django.db import migrations, models
from django.db.models.functions import Lower


def refuse_case_twins(apps, schema_editor):
    """Stop with the names to resolve rather than fail on the constraint with no hint."""
    User = apps.get_model("accounts", "User")
    twins = (
        User.objects.annotate(key=Lower("username"))
        .values("key")
        .annotate(n=models.Count("id"))
        .filter(n__gt=1)
        .values_list("key", flat=True)
    )
    if twins:
        names = ", ".join(sorted(twins))
        raise RuntimeError(
            "Usernames that differ only in case must be renamed before this migration "
            f"(anagen shell): {names}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_password_must_change"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(refuse_case_twins, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("username"),
                name="username_unique_ignoring_case",
            ),
        ),
    ]
