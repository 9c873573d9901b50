"""Dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from querydeck.app.workbench import Workbench


async def get_workbench(request: Request) -> Workbench:
    # async: a sync dependency would cost a hop to a worker thread on every request
    workbench: Workbench = request.app.state.workbench
    return workbench


WorkbenchDep = Annotated[Workbench, Depends(get_workbench)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Offset = Annotated[int, Query(ge=0, le=2**31, description="Items to skip.")]
