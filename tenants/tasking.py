"""``@tenant_task``: Celery tasks that run inside one tenant's scope.

Tasks take ids, never model instances, and must be called with ``tenant_id=``; the wrapper
enters ``tenant_scope(tenant_id)`` so the task body queries scoped managers like a request does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from celery import shared_task

from tenants.scope import tenant_scope


def tenant_task(*task_args: Any, **task_kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    def decorate(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def run_in_scope(*args: Any, tenant_id: int | None = None, **kwargs: Any) -> Any:
            if tenant_id is None:
                raise TypeError(f"{func.__name__} is a tenant task: call it with tenant_id=<int>")
            with tenant_scope(int(tenant_id)):
                return func(*args, tenant_id=int(tenant_id), **kwargs)

        return shared_task(*task_args, **task_kwargs)(run_in_scope)

    return decorate
