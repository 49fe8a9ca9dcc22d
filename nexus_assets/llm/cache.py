"""Answers of the LLM, kept in SQLite so a rerun costs nothing and gives the same scores.

The key hashes everything the answer depends on (the input text, the model and the prompt
version), so changing any of them asks again. Each entry keeps ``scored_at``, the moment the
answer was first obtained, which point-in-time rules need.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def cache_key(kind: str, text: str, model: str, prompt_version: str) -> str:
    return hashlib.sha256("\x1f".join((kind, model, prompt_version, text)).encode()).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    payload: dict[str, Any]
    scored_at: datetime
    model: str
    prompt_version: str


class LlmCache:
    """A small key-value table; one connection per call, so it is safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS llm_answers (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                "model TEXT NOT NULL, prompt_version TEXT NOT NULL, payload TEXT NOT NULL, scored_at TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, key: str) -> CachedAnswer | None:
        with closing(self._connect()) as db, db:
            row = db.execute(
                "SELECT payload, scored_at, model, prompt_version FROM llm_answers WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return CachedAnswer(json.loads(row[0]), datetime.fromisoformat(row[1]), row[2], row[3])

    def put(
        self,
        key: str,
        *,
        kind: str,
        model: str,
        prompt_version: str,
        payload: dict[str, Any],
        scored_at: datetime,
    ) -> None:
        """First answer wins: a key is written once, so ``scored_at`` never moves forward."""
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR IGNORE INTO llm_answers VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    kind,
                    model,
                    prompt_version,
                    json.dumps(payload, sort_keys=True),
                    scored_at.astimezone(UTC).isoformat(),
                ),
            )

    def count(self) -> int:
        with closing(self._connect()) as db, db:
            return int(db.execute("SELECT COUNT(*) FROM llm_answers").fetchone()[0])
