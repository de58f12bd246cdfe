from django.urls import path

from sequences.views import (
    contacts,
    copy_pages,
    dashboard,
    experiment_pages,
    scoring,
    sequence_pages,
    settings_pages,
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("contacts/", contacts.contact_list, name="contact-list"),
    path("contacts/<int:pk>/", contacts.contact_detail, name="contact-detail"),
    path("scoring/", scoring.scoring_settings, name="scoring-settings"),
    path("scoring/what-if/", scoring.scoring_what_if, name="scoring-what-if"),
    path("scoring/versions/<int:version>/activate/", scoring.scoring_activate, name="scoring-activate"),
    path("triggers/", scoring.trigger_settings, name="trigger-settings"),
    path("sequences/", sequence_pages.sequence_list, name="sequence-list"),
    path("sequences/<int:pk>/", sequence_pages.sequence_detail, name="sequence-detail"),
    path("sequences/<int:pk>/status/", sequence_pages.sequence_status, name="sequence-status"),
    path("sequences/<int:pk>/steps/add/", sequence_pages.step_add, name="step-add"),
    path("sequences/<int:pk>/steps/<int:step_pk>/", sequence_pages.step_edit, name="step-edit"),
    path("sequences/<int:pk>/steps/<int:step_pk>/move/", sequence_pages.step_move, name="step-move"),
    path("sequences/<int:pk>/steps/<int:step_pk>/delete/", sequence_pages.step_delete, name="step-delete"),
    path("sequences/<int:pk>/steps/<int:step_pk>/copy/", copy_pages.step_copy, name="step-copy"),
    path(
        "sequences/<int:pk>/steps/<int:step_pk>/copy/preview/", copy_pages.copy_live_preview, name="copy-live-preview"
    ),
    path("sequences/<int:pk>/steps/<int:step_pk>/copy/matrix/", copy_pages.copy_matrix, name="copy-matrix"),
    path("sequences/<int:pk>/steps/<int:step_pk>/copy/test-send/", copy_pages.test_send, name="copy-test-send"),
    path(
        "sequences/<int:pk>/steps/<int:step_pk>/copy/variants/<int:variant_pk>/delete/",
        copy_pages.variant_delete,
        name="variant-delete",
    ),
    path(
        "sequences/<int:pk>/steps/<int:step_pk>/experiments/",
        experiment_pages.step_experiments,
        name="step-experiments",
    ),
    path(
        "sequences/<int:pk>/steps/<int:step_pk>/experiments/<int:experiment_pk>/stop/",
        experiment_pages.experiment_stop,
        name="experiment-stop",
    ),
    path("segments/", sequence_pages.segment_list, name="segment-list"),
    path("segments/new/", sequence_pages.segment_edit, name="segment-new"),
    path("segments/<int:pk>/", sequence_pages.segment_edit, name="segment-edit"),
    path("schedule/", sequence_pages.schedule, name="schedule"),
    path("sending-rules/", sequence_pages.sending_rules, name="sending-rules"),
    path("outbox/", sequence_pages.outbox, name="outbox"),
    path("outbox/<int:pk>/", sequence_pages.outbox_email, name="outbox-email"),
    path("settings/write-keys/", settings_pages.write_keys, name="write-keys"),
    path("settings/write-keys/<int:pk>/revoke/", settings_pages.write_key_revoke, name="write-key-revoke"),
    path("settings/rejected-events/", settings_pages.rejected_events, name="rejected-events"),
    path(
        "settings/rejected-events/queued/<int:pk>/retry/", settings_pages.queued_batch_retry, name="queued-batch-retry"
    ),
    path(
        "settings/rejected-events/queued/retry/",
        settings_pages.queued_batches_retry_all,
        name="queued-batches-retry-all",
    ),
    path("settings/users/", settings_pages.users, name="users"),
    path("settings/users/<int:pk>/role/", settings_pages.user_role, name="user-role"),
    path("settings/users/<int:pk>/deactivate/", settings_pages.user_deactivate, name="user-deactivate"),
    path("settings/users/<int:pk>/reactivate/", settings_pages.user_reactivate, name="user-reactivate"),
    path("settings/users/<int:pk>/password/", settings_pages.user_password, name="user-password"),
    path("settings/account/", settings_pages.account, name="account"),
    path("settings/account/stages/<int:pk>/delete/", settings_pages.stage_delete, name="stage-delete"),
]
