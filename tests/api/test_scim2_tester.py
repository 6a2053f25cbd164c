"""scim2-tester's whole check suite against the app served by gunicorn.

scim2-tester reads /ServiceProviderConfig, /ResourceTypes and /Schemas, then
creates, reads, queries, patches, replaces and deletes every resource type on
what the service published. Zero errors means the discovery documents tell the
truth and the service does what they say.
"""

from collections import Counter

import httpx
from scim2_client import BaseSyncSCIMClient
from scim2_client.errors import RequestNetworkException
from scim2_tester import Status
from scim2_tester import check_server

FAILED = (Status.ERROR, Status.CRITICAL)

# Every check runs: none is excluded, as none has turned out to be a tester
# limitation. To exclude one, name it here with the RFC 7643/7644 section that
# makes the tester wrong, e.g. {("User", "check_x"): "RFC 7644 §3.x says ..."}.
EXCLUDED: dict[tuple[str | None, str], str] = {}


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client's network engine over httpx.

    scim2-client 0.13 ships its network engine for httpx2 only; this is the
    same three methods on httpx, which the test dependencies carry.
    """

    def __init__(self, client: httpx.Client, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.client.base_url
        try:
            url = self.client.build_request("GET", endpoint).url
        except httpx.InvalidURL:
            return False
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port) and (
            url.raw_path.startswith(base.raw_path)
        )

    def _parse_json(self, response):
        return response.json()

    def request(self, method: str, url: str, **kwargs):
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.RequestError as error:
            failure = RequestNetworkException()
            failure.add_note(str(error))
            raise failure from error


def describe(result) -> str:
    data = repr(result.data)
    if len(data) > 800:
        data = data[:800] + "..."
    return f"{result.resource_type or '-'} {result.title}: {result.reason}\n    {data}"


def test_scim2_tester_finds_no_error(live_server):
    with httpx.Client(
        base_url=live_server.scim_url,
        headers={"Authorization": f"Bearer {live_server.token}"},
        timeout=30.0,
    ) as http:
        client = HttpxSCIMClient(http)
        client.discover()
        results = check_server(client)

    counts = Counter(result.status.name for result in results)
    checked = {(r.resource_type, r.title) for r in results if r.status is not Status.SKIPPED}
    print(f"\nscim2-tester: {len(results)} results from {len(checked)} checks: {dict(counts)}")
    for result in results:
        if result.status not in (Status.SUCCESS, Status.SKIPPED):
            print(f"  {result.status.name} {describe(result)}")

    failures = [
        r for r in results if r.status in FAILED and (r.resource_type, r.title) not in EXCLUDED
    ]
    assert not failures, "scim2-tester found errors:\n" + "\n".join(map(describe, failures))
    # The suite really ran: discovery, then the CRUD checks for both types.
    tested_types = {r.resource_type for r in results if r.status is Status.SUCCESS}
    assert {"User", "Group"} <= tested_types
    assert counts["SUCCESS"] >= 100
    assert "Traceback" not in live_server.log()
