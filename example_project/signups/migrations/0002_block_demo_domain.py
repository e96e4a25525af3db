from django.db import migrations

DEMO_DOMAIN = "blocked.example"


def add_demo_domain(apps, schema_editor):
    BlockedDomain = apps.get_model("signups", "BlockedDomain")
    BlockedDomain.objects.get_or_create(
        domain=DEMO_DOMAIN,
        defaults={"reason": "the demo blocks it so that its jobs fail"},
    )


def remove_demo_domain(apps, schema_editor):
    BlockedDomain = apps.get_model("signups", "BlockedDomain")
    BlockedDomain.objects.filter(domain=DEMO_DOMAIN).delete()


class Migration(migrations.Migration):
    dependencies = [("signups", "0001_initial")]

    operations = [migrations.RunPython(add_demo_domain, remove_demo_domain)]
