"""A generic keyed upsert on top of core.imports.pipeline: one row → one model instance found by a
natural key; unchanged rows are skipped, changed ones updated, new ones created, all in bulk
with their simple-history records (`bulk_create_with_history` / `bulk_update_with_history`)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from core.imports.pipeline import CREATED, UNCHANGED, UPDATED, Importer, ParsedRow


class UpsertImporter(Importer):
    model = None
    # Fields compared with, and written to, an existing instance.
    update_fields: tuple[str, ...] = ()
    # Update fields kept as recorded when their column (field → column key) is absent from the file.
    keep_when_absent: dict[str, str] = {}
    has_history = True

    def compared_fields(self) -> list[str]:
        return [name for name in self.update_fields
                if name not in self.keep_when_absent or self.keep_when_absent[name] in self.present]

    def prepare(self, rows: list[ParsedRow], fail: Callable) -> None:
        """Resolve references (members, parents) into row.values; report problems."""

    @abstractmethod
    def existing(self, rows: list[ParsedRow]) -> dict[Any, Any]:
        """Existing instances by db_key."""

    @abstractmethod
    def db_key(self, values: dict[str, Any]) -> Any:
        """The key an existing instance is found by."""

    @abstractmethod
    def new_instance(self, values: dict[str, Any]):
        """An unsaved instance for a new row."""

    def validate(self, row: ParsedRow, instance, fail: Callable) -> None:
        """Extra rules against the existing instance (None for a new row)."""

    def plan(self, rows, fail):
        self.prepare(rows, fail)
        ready = [row for row in rows if "_skip" not in row.values]
        existing = self.existing(ready)
        self._creates, self._updates = [], []
        fields = self.compared_fields()
        for row in ready:
            instance = existing.get(self.db_key(row.values))
            self.validate(row, instance, fail)
            if instance is None:
                row.instance = self.new_instance(row.values)
                row.action = CREATED
                self._creates.append(row.instance)
                continue
            changed = [name for name in fields if getattr(instance, name) != row.values[name]]
            row.instance = instance
            if changed:
                for name in fields:
                    setattr(instance, name, row.values[name])
                row.action = UPDATED
                self._updates.append(instance)
            else:
                row.action = UNCHANGED

    def apply(self, rows, progress):
        self.write_creates(self._creates, progress)
        self.write_updates(self._updates, progress)

    def write_creates(self, objs, progress):
        for start in range(0, len(objs), self.batch_size):
            batch = objs[start:start + self.batch_size]
            if self.has_history:
                bulk_create_with_history(batch, self.model, batch_size=self.batch_size, **self.history_kwargs())
            else:
                self.model.objects.bulk_create(batch, batch_size=self.batch_size)
            progress(len(batch))

    def write_updates(self, objs, progress):
        for start in range(0, len(objs), self.batch_size):
            batch = objs[start:start + self.batch_size]
            if self.has_history:
                bulk_update_with_history(batch, self.model, self.compared_fields(), batch_size=self.batch_size,
                                         **self.history_kwargs())
            else:
                self.model.objects.bulk_update(batch, self.compared_fields(), batch_size=self.batch_size)
            progress(len(batch))
