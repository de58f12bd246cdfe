from django.urls import path

from sequences.views import contacts, dashboard, scoring, settings_pages

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("contacts/", contacts.contact_list, name="contact-list"),
    path("contacts/<int:pk>/", contacts.contact_detail, name="contact-detail"),
    path("scoring/", scoring.scoring_settings, name="scoring-settings"),
    path("scoring/what-if/", scoring.scoring_what_if, name="scoring-what-if"),
    path("scoring/versions/<int:version>/activate/", scoring.scoring_activate, name="scoring-activate"),
    path("triggers/", scoring.trigger_settings, name="trigger-settings"),
    path("settings/write-keys/", settings_pages.write_keys, name="write-keys"),
    path("settings/write-keys/<int:pk>/revoke/", settings_pages.write_key_revoke, name="write-key-revoke"),
    path("settings/rejected-events/", settings_pages.rejected_events, name="rejected-events"),
    path("settings/users/", settings_pages.users, name="users"),
    path("settings/users/<int:pk>/role/", settings_pages.user_role, name="user-role"),
    path("settings/account/", settings_pages.account, name="account"),
    path("settings/account/stages/<int:pk>/delete/", settings_pages.stage_delete, name="stage-delete"),
]
