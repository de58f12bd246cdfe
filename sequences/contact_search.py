"""Contact search, shared by the contacts page and the API.

One text per contact, "EMAIL USER_ID FIRST LAST" in capitals, is searched for the typed words as a substring. On
PostgreSQL a trigram index over exactly that expression (migration 0014) answers it without reading the whole
table; the SQL below must stay character for character what the index holds, or the planner cannot use it.
First and last name sit side by side in it, so "ada lovelace" and "a lovelace" find Ada Lovelace.
"""

from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Upper

from sequences.models import AnonymousId, Contact

SEARCH_TEXT_SQL = (
    'UPPER(COALESCE("sequences_contact"."email", \'\') || \' \' || COALESCE("sequences_contact"."user_id", \'\')'
    ' || \' \' || "sequences_contact"."first_name" || \' \' || "sequences_contact"."last_name")'
)
MAX_QUERY_LENGTH = 200


def search_contacts(queryset: QuerySet[Contact], text: str) -> QuerySet[Contact]:
    text = " ".join(text.split())[:MAX_QUERY_LENGTH]  # one space between words, as in the searched text
    queryset = queryset.order_by("-last_seen_at", "-pk")
    if not text:
        return queryset
    # An anonymous id is matched whole, by its unique index, and joined in as ids: an OR across a join would
    # keep the trigram index from being used.
    device_owners = list(AnonymousId.objects.filter(value=text).values_list("contact_id", flat=True)[:10])
    # Capitalised by the database, as the stored side is: Python's upper() differs from PostgreSQL's (ß, and
    # letters past ASCII where the database's locale is C), and the two would then never meet.
    matches = Q(search_text__contains=Upper(Value(text)))
    if device_owners:
        matches |= Q(pk__in=device_owners)
    search_text = RawSQL(SEARCH_TEXT_SQL, [], output_field=CharField())  # noqa: S611 -- constant SQL, no input
    return queryset.alias(search_text=search_text).filter(matches)
