from django.core.management.base import BaseCommand

from analytics.rollups import rebuild_rollups


class Command(BaseCommand):
    help = "Recompute every analytics rollup from the raw messages and email events."

    def handle(self, *args, **options):
        partitions = rebuild_rollups()
        self.stdout.write(f"Rebuilt {partitions} partitions (a day of one sequence each).")
