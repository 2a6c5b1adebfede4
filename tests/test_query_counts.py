"""List endpoints run a fixed number of queries whatever the number of rows (no N+1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cameras.models import Camera, Zone, ZoneKind
from detection.models import Alert
from tenants.scope import tenant_scope
from tests.conftest import SQUARE, client_for

# ATOMIC_REQUESTS opens a savepoint inside the test's transaction: SAVEPOINT + RELEASE.
TX = 2
# url -> queries: membership lookup (1) + page count (1) + page rows (1); alerts use a cursor (no count)
PINNED = {
    "/api/v1/sites/": 3,
    "/api/v1/cameras/": 3,
    "/api/v1/zones/": 3,
    "/api/v1/shifts/": 3,
    "/api/v1/devices/": 3,
    "/api/v1/memberships/": 3,
    "/api/v1/invitations/": 3,
    "/api/v1/alerts/": 2,
    "/api/v1/tenants/": 3,
    "/api/v1/me/tokens/": 1,  # the caller's own tokens, one query (a short list, not paginated)
    "/api/v1/audit/": 2,  # cursor pages, like alerts
}


def grow(acme, n: int) -> None:  # noqa: ANN001
    with tenant_scope(acme.tenant.id):
        for i in range(n):
            camera = Camera.objects.create(site=acme.site, name=f"extra-{i}-{Camera.objects.count()}")
            Zone.objects.create(camera=camera, name="z", kind=ZoneKind.ROI, points=SQUARE)
            Alert.objects.create(camera=camera, started_at=timezone.now() - timedelta(minutes=i), peak_score=1.0)


@pytest.mark.parametrize("url", sorted(PINNED))
def test_list_query_count_is_pinned(acme, url, django_assert_num_queries):  # noqa: ANN001
    client = client_for(acme.users["alice"])
    with django_assert_num_queries(PINNED[url] + TX):
        assert client.get(url).status_code == 200
    grow(acme, 5)
    with django_assert_num_queries(PINNED[url] + TX):
        assert client.get(url).status_code == 200
