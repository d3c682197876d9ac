import time

from django.core.management import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max

from events.eventlog import event_log
from orders.read.apps import ALIAS
from orders.read.models import OrderSummary, OrderSummaryProduct, ProjectionState
from orders.read.projection import FACTS, TOPICS, project, projection_state

BATCH = 500


class Command(BaseCommand):
    help = (
        "Rebuild the orders read side from the event log into a new generation while the current "
        "one keeps serving reads; swap them in one transaction at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="discard a rebuild left unfinished by a crash"
        )

    def handle(self, *args, force=False, **options):
        state = projection_state()
        if state.building_generation and not force:
            raise CommandError(
                f"generation {state.building_generation} is already being built; "
                "if that rebuild died, run again with --force"
            )
        if state.building_generation:
            self._discard(state.building_generation)
        generations = OrderSummary.objects.using(ALIAS).aggregate(top=Max("generation"))["top"] or 0
        building = max(generations, state.active_generation) + 1
        # From here on the live projection writes to this generation too, so events published
        # after the log's end (below) are not missed.
        ProjectionState.objects.using(ALIAS).filter(pk=state.pk).update(building_generation=building)
        try:
            applied = self._replay(building)
            old = self._swap(building)
        except BaseException:
            self._discard(building)
            raise
        self._delete_generation(old)
        self.stdout.write(
            self.style.SUCCESS(f"generation {building} now serves reads ({applied} events applied)")
        )

    def _replay(self, generation: int) -> int:
        log = event_log(TOPICS)
        total, started, applied = len(log), time.monotonic(), 0
        self.stdout.write(f"rebuilding generation {generation} from {total} events on {', '.join(TOPICS)}")
        batch = []
        for seen, event in enumerate(log, 1):
            if event.type in FACTS:
                batch.append(event)
            if len(batch) >= BATCH:
                applied += self._apply(batch, generation)
                batch = []
            if seen % 5000 == 0 or seen == total:
                rate = seen / max(time.monotonic() - started, 1e-9)
                self.stdout.write(f"  {seen}/{total} events ({100 * seen // max(total, 1)}%, {rate:.0f}/s)")
        return applied + self._apply(batch, generation)

    def _apply(self, batch, generation: int) -> int:
        if batch:
            with transaction.atomic(using=ALIAS):
                for event in batch:
                    project(event, [generation])
        return len(batch)

    def _swap(self, building: int) -> int:
        with transaction.atomic(using=ALIAS):
            state = projection_state(for_update=True)
            old = state.active_generation
            state.active_generation, state.building_generation = building, None
            state.save(using=ALIAS, update_fields=["active_generation", "building_generation"])
        return old

    def _discard(self, generation: int) -> None:
        ProjectionState.objects.using(ALIAS).filter(building_generation=generation).update(
            building_generation=None
        )
        self._delete_generation(generation)

    def _delete_generation(self, generation: int) -> None:
        for model in (OrderSummaryProduct, OrderSummary):
            model.objects.using(ALIAS).filter(generation=generation).delete()
