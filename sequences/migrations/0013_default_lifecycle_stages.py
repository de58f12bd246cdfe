"""A new installation starts with the usual eight lifecycle stages.

Only `seed_demo` created them before, so a production install (migrate + createsuperuser) had an empty list and
silently ignored every `lifecycle_stage` trait its site sent. Only an empty list is filled: an installation that
already has stages keeps its own. The stages are written out here, not imported, so that this migration means
the same thing whatever the model module later holds.
"""

from django.db import migrations

STAGES = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("mql", "Marketing qualified lead (MQL)"),
    ("sql", "Sales qualified lead (SQL)"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("repeat_customer", "Repeat customer"),
    ("lapsed", "Lapsed"),
]


def add_stages(apps, schema_editor):
    LifecycleStage = apps.get_model("sequences", "LifecycleStage")
    if not LifecycleStage.objects.exists():
        LifecycleStage.objects.bulk_create(
            LifecycleStage(slug=slug, name=name, position=position) for position, (slug, name) in enumerate(STAGES)
        )


class Migration(migrations.Migration):
    dependencies = [("sequences", "0012_scoring_recent_downloads")]

    # Going back leaves the stages: contacts may name them, and an empty list is what this fixed.
    operations = [migrations.RunPython(add_stages, migrations.RunPython.noop)]
