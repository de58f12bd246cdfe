"""Management commands a new user runs: create_write_key and seed_demo."""

from io import StringIO

import pytest
from django.core.management import call_command

from sequences.models import Contact, Event, WriteKey
from triggerapp.roles import role_of

pytestmark = pytest.mark.django_db


def test_create_write_key_prints_the_key_as_the_last_line():
    out = StringIO()

    call_command("create_write_key", "Web shop", stdout=out)

    last_line = out.getvalue().strip().splitlines()[-1]
    assert WriteKey.objects.get(name="Web shop").key == last_line


def test_seed_demo_is_idempotent_and_loads_users_key_and_contacts():
    call_command("seed_demo", stdout=StringIO())
    counts = (Contact.objects.count(), Event.objects.count(), WriteKey.objects.count())

    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert (Contact.objects.count(), Event.objects.count(), WriteKey.objects.count()) == counts
    assert counts[0] >= 5
    assert "wk_demo_local_write_key" in out.getvalue()
    from django.contrib.auth import get_user_model

    roles = {u.username: role_of(u) for u in get_user_model().objects.all()}
    assert roles == {"demo": "admin", "editor": "editor", "viewer": "viewer"}
    # the demo visitors browsed anonymously, then identified: their history is merged into one contact each
    ada = Contact.objects.get(user_id="u-1001")
    assert ada.events.filter(type="page").exists()
    assert not Contact.objects.filter(user_id__isnull=True).exists()


def test_on_a_fresh_demo_the_what_if_has_someone_to_move(client):
    from sequences.scoring_config import DEFAULT_CONFIG_JSON
    from sequences.scoring_forms import ScoringModelForm

    call_command("seed_demo", stdout=StringIO())
    client.login(username="editor", password="triggerapp-demo")
    draft = {k: v for k, v in ScoringModelForm.initial_from(DEFAULT_CONFIG_JSON).items() if v is not None}
    draft.update(weight_action_depth=35, weight_lifecycle_stage=10)  # 10 points from stage to depth

    html = client.post("/scoring/what-if/", draft, HTTP_HX_REQUEST="true").content.decode()

    assert "Sam Okafor" in html
    assert "Olive Park" in html
    changed = int(html.split("<strong>")[1].split("</strong>")[0])
    assert changed >= 2, html  # Sam up to high, Olive down to low
