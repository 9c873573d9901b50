"""A page of a stable list, as every listing of the app database is handed out."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a stable list."""

    items: list[T]
    total: int
    limit: int
    offset: int
