"""Context rules' `contact.downloads_last_14_days` is now `contact.recent_downloads`.

The window is a scoring setting (`repeat_download_days`), so the old name would lie once a marketer changes it.
Versions are otherwise never edited; this rewrites only the field's name inside stored rules, so every version
keeps scoring as it did (a configuration without the setting counts 14 days, as before). Reversible: going
back restores the old name. Contacts' stored facts are not rewritten: ScoringFacts.from_json reads either name.
"""

from django.db import migrations

OLD, NEW = "contact.downloads_last_14_days", "contact.recent_downloads"


def _renamed(rule, old: str, new: str):
    """The rule tree with the field renamed in every comparison (all / any / not groups walked)."""
    if isinstance(rule, list):
        return [_renamed(item, old, new) for item in rule]
    if not isinstance(rule, dict):
        return rule
    if rule.get("field") == old:
        return {**rule, "field": new}
    return {key: _renamed(value, old, new) if key in ("all", "any", "not") else value for key, value in rule.items()}


def _rename(apps, old: str, new: str) -> None:
    ScoringModel = apps.get_model("sequences", "ScoringModel")
    for model in ScoringModel.objects.only("pk", "config").iterator():
        config = model.config
        rules = config.get("context_rules") if isinstance(config, dict) else None
        if not isinstance(rules, list):
            continue
        changed = [
            {**rule, "condition": _renamed(rule["condition"], old, new)}
            if isinstance(rule, dict) and "condition" in rule
            else rule
            for rule in rules
        ]
        if changed != rules:
            model.config = {**config, "context_rules": changed}
            model.save(update_fields=["config"])


def forwards(apps, schema_editor):
    _rename(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _rename(apps, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("sequences", "0011_event_lean_indexes"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
