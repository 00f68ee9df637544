"""moto's DynamoDB at DynamoDB's cost: a Query on a table's key reads one partition.

moto answers every Query by reading and sorting *all* of the table's items, then keeping
the partition asked for. DynamoDB reads the partition only. With a ledger of hundreds of
client/envs, ``status`` (a history Query per client/env) cost the sandbox time growing with
the square of the fleet, and made the sandbox, not the tool, the slow side of the run.
The answers do not change: the same items, in the same order, paged the same way.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

_asking = threading.local()  # (table, hash key) while a Query on the table's key runs


def query_reads_one_partition() -> None:
    """Make moto's ``Table.query`` on the table's own key read that key's items only.
    Queries of an index, and every other read, are moto's own. Idempotent."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_cosydeploy_sandbox", False):
        return
    query, all_items = Table.query, Table.all_items
    signature = inspect.signature(query)

    def partition_items(self: Any) -> Any:
        asked = getattr(_asking, "partition", None)
        if asked is None or asked[0] is not self:
            return all_items(self)
        found = self.items.get(asked[1])  # ``items`` is a defaultdict: never index it here
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        # As moto's own: by hash key, then range key.
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    def partition_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs).arguments
        hash_key = bound.get("hash_key")
        if bound.get("index_name") or hash_key is None:
            return query(self, *args, **kwargs)
        _asking.partition = (self, hash_key)
        try:
            return query(self, *args, **kwargs)
        finally:
            _asking.partition = None

    partition_query._cosydeploy_sandbox = True  # type: ignore[attr-defined]
    Table.query = partition_query  # type: ignore[method-assign]
    Table.all_items = partition_items  # type: ignore[method-assign]
