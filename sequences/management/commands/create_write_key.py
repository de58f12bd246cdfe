from django.core.management.base import BaseCommand

from sequences.models import WriteKey


class Command(BaseCommand):
    help = "Create a write key for the tracking API and print it (the key is the last line of the output)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Where the events come from, e.g. 'Web shop'.")

    def handle(self, *args, name: str, **options):
        key = WriteKey.objects.create(name=name)
        self.stdout.write(f"Created write key {key.name!r}:")
        self.stdout.write(key.key)
