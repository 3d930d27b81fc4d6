"""The router's checkpoints in the database (``Checkpoints`` of ``services/ports.py``)."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, insert, select

from convroute.services.ports import Checkpoint
from convroute.storage import schema as t
from convroute.storage.engines import Engines
from convroute.storage.store import translate_errors


class SqlCheckpoints:
    """Checkpoints kept in ``router_checkpoints``: the newest few of the routing key in use
    (those of another key, other code or settings, are let go at the next save)."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines

    def latest_checkpoint(self, routing_key: str) -> Checkpoint | None:
        c = t.router_checkpoints.c
        query = (
            select(c.routing_key, c.created_ms, c.position, c.applied, c.digest, c.state)
            .where(c.routing_key == routing_key)
            .order_by(c.created_ms.desc(), c.id.desc())
            .limit(1)
        )
        with translate_errors(), self.engines.reader.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Checkpoint(
            routing_key=row.routing_key,
            created_ms=row.created_ms,
            position=json.loads(row.position),
            applied=row.applied,
            digest=row.digest,
            state=bytes(row.state),
        )

    def checkpoint_made(self, routing_key: str) -> int | None:
        """When the latest checkpoint of ``routing_key`` was made, if there is one."""
        c = t.router_checkpoints.c
        query = select(func.max(c.created_ms)).where(c.routing_key == routing_key)
        with translate_errors(), self.engines.reader.connect() as conn:
            made = conn.execute(query).scalar()
        return None if made is None else int(made)

    def save_checkpoint(self, checkpoint: Checkpoint, keep: int = 2) -> None:
        c = t.router_checkpoints.c
        with translate_errors(), self.engines.writer.begin() as conn:
            conn.execute(
                insert(t.router_checkpoints).values(
                    routing_key=checkpoint.routing_key,
                    created_ms=checkpoint.created_ms,
                    position=json.dumps(dict(checkpoint.position)),
                    applied=checkpoint.applied,
                    digest=checkpoint.digest,
                    state=checkpoint.state,
                )
            )
            kept = (
                select(c.id)
                .where(c.routing_key == checkpoint.routing_key)
                .order_by(c.created_ms.desc(), c.id.desc())
                .limit(max(1, keep))
            )
            ids = [r.id for r in conn.execute(kept)]
            # older ones of this key, and those of other keys (other code or settings)
            conn.execute(delete(t.router_checkpoints).where(c.id.not_in(ids)))

    def checkpoints(self) -> list[tuple[str, int, int, int]]:
        """Every checkpoint kept: routing key, when made, log entries, bytes; newest first."""
        c = t.router_checkpoints.c
        size = func.length(c.state).label("size")
        query = select(c.routing_key, c.created_ms, c.applied, size).order_by(c.created_ms.desc())
        with translate_errors(), self.engines.reader.connect() as conn:
            return [(r.routing_key, r.created_ms, r.applied, r.size) for r in conn.execute(query)]
