"""The assistant's answers, kept per user: what a follow-up question carries forward
(``parent_id`` chains) and what a thumbs-up turns into a candidate example."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from querydeck.assistant.models import AskAnswer
from querydeck.assistant.prompts import Turn
from querydeck.errors import AnswerNotFound
from querydeck.store.assistant_tables import AnswerRow
from querydeck.store.database import AppDatabase

#: Earlier turns of a thread carried into a follow-up question.
THREAD_TURNS = 3


def _missing(answer_id: str) -> AnswerNotFound:
    """Another user's answer is not found either."""
    return AnswerNotFound("No such answer.", detail={"answer_id": answer_id})


class AnswerStore:
    def __init__(self, db: AppDatabase) -> None:
        self._db = db

    def save(self, answer: AskAnswer, connection_id: str, user: str) -> None:
        row = AnswerRow(
            id=answer.id,
            user_name=user,
            connection_id=connection_id,
            parent_id=answer.follow_up_of,
            question=answer.question,
            sql=answer.sql,
            detail=answer.model_dump(mode="json", exclude={"question", "sql"}),
            feedback=None,
            created_at=answer.created_at,
        )
        self._db.write(lambda tx: tx.add(row))

    def row(self, answer_id: str, user: str) -> AnswerRow:
        with self._db.read() as tx:
            row = tx.get(AnswerRow, answer_id)
        if row is None or row.user_name != user:
            raise _missing(answer_id)
        return row

    def turns(self, user: str, connection_id: str, parent_id: str | None) -> list[Turn]:
        """The thread ending at ``parent_id`` (the user's own, on that connection), oldest
        first, at most THREAD_TURNS."""
        turns: list[Turn] = []
        with self._db.read() as tx:
            while parent_id is not None and len(turns) < THREAD_TURNS:
                row = tx.get(AnswerRow, parent_id)
                if row is None or row.user_name != user or row.connection_id != connection_id:
                    raise _missing(parent_id)
                turns.insert(0, Turn(row.question, row.sql))
                parent_id = row.parent_id
        return turns

    def listing(self, user: str, *, limit: int, offset: int) -> tuple[list[AnswerRow], int]:
        """The user's answers, newest first, and how many there are."""
        where = [AnswerRow.user_name == user]
        with self._db.read() as tx:
            total = tx.scalar(select(func.count()).select_from(AnswerRow).where(*where))
            rows = tx.scalars(
                select(AnswerRow)
                .where(*where)
                .order_by(AnswerRow.created_at.desc(), AnswerRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return list(rows), int(total or 0)

    def vote(self, answer_id: str, vote: str) -> None:
        def work(tx: Session) -> None:
            stored = tx.get(AnswerRow, answer_id)
            if stored is not None:
                stored.feedback = vote

        self._db.write(work)

    def set_explanation(self, answer_id: str, text: str) -> None:
        def work(tx: Session) -> None:
            stored = tx.get(AnswerRow, answer_id)
            if stored is not None:
                stored.detail = {**stored.detail, "explanation": text}

        self._db.write(work)
