from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action

from sequences.api.sequence_serializers import ContactMessageSerializer
from sequences.api.serializers import ContactDetailSerializer, ContactSerializer
from sequences.contact_search import search_contacts
from sequences.models import Contact


class ContactViewSet(viewsets.ReadOnlyModelViewSet):
    """Contacts, newest activity first. Viewers and above may read."""

    lookup_field = "user_id"
    lookup_value_regex = "[^/]+"  # a user id holding "/" is found with the list's ?user_id= (exact)

    def get_serializer_class(self):
        return ContactDetailSerializer if self.action == "retrieve" else ContactSerializer

    def get_queryset(self):
        return Contact.objects.prefetch_related("anonymous_ids")

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Part of an email, name, user id or anonymous id."),
            OpenApiParameter("user_id", str, description='Exactly this user id (any characters, "/" included).'),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def filter_queryset(self, queryset):
        if self.action == "list":
            queryset = search_contacts(queryset, self.request.query_params.get("search", ""))
            if "user_id" in self.request.query_params:
                queryset = queryset.filter(user_id=self.request.query_params["user_id"])
            return queryset
        return queryset

    @extend_schema(responses=ContactMessageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def messages(self, request, user_id=None):
        """The contact's messages, newest first, each with its status and the reason it was held or skipped."""
        contact = self.get_object()
        messages = contact.messages.select_related("enrolment__sequence", "step").order_by("-send_at")
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(ContactMessageSerializer(page, many=True).data)

    def get_object(self):
        # A contact is addressed by the site's user id; an anonymous one by one of its anonymous ids.
        key = self.kwargs["user_id"]
        contact = self.get_queryset().filter(Q(user_id=key) | Q(anonymous_ids__value=key, user_id__isnull=True)).first()
        if contact is None:
            raise Http404("No contact with that user id.")
        self.check_object_permissions(self.request, contact)
        return contact
