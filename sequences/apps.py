from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "sequences"
    verbose_name = "Sequences"

    def ready(self) -> None:
        from sequences import email_feedback  # noqa: F401  (connects the anymail tracking receiver)
