"""Local HTTP stand-ins for the Salesforce REST API and the HubSpot CRM API, answering with
their documented JSON shapes on loopback. They record every request and can be told to fail."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Failure:
    path_contains: str
    status: int
    times: int
    retry_after: str | None = None


@dataclass
class StandIn:
    """Shared machinery: a threaded server, a request log and injectable failures."""

    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, path_contains: str, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        self.failures.append(Failure(path_contains, status, times, retry_after))

    def _failure_for(self, target: str) -> Failure | None:
        for failure in self.failures:
            if failure.times > 0 and failure.path_contains in target:
                failure.times -= 1
                return failure
        return None

    def handle(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        raise NotImplementedError

    @contextmanager
    def serve(self) -> Iterator[StandIn]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                standin.requests.append((method, self.path, body))
                failure = standin._failure_for(self.path)
                if failure:
                    status, payload = failure.status, [{"errorCode": "SERVER_ERROR", "message": "try again"}]
                else:
                    status, payload = standin.handle(method, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if failure and failure.retry_after is not None:
                    self.send_header("Retry-After", failure.retry_after)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def _sf_time(value: str) -> datetime:
    return datetime.strptime(value.replace("+0000", "Z").replace(".000Z", "Z"), "%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SalesforceStandIn(StandIn):
    """`GET /services/data/vXX/query|queryAll?q=SOQL` with `nextRecordsUrl` paging."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    page_size: int = 2
    cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def handle(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        parsed = urlparse(target)
        if "/query" not in parsed.path:
            return 404, [{"errorCode": "NOT_FOUND", "message": parsed.path}]
        locator = re.search(r"/query(?:All)?/([^/?]+)$", parsed.path)
        if locator:
            records = self.cursors.pop(locator.group(1))
        else:
            records = self._run(parse_qs(parsed.query)["q"][0], include_deleted="/queryAll" in parsed.path)
        return 200, self._page(parsed.path.rsplit("/query", 1)[0], records)

    def _run(self, soql: str, include_deleted: bool) -> list[dict[str, Any]]:
        sobject = re.search(r"\bFROM\s+(\w+)", soql).group(1)  # type: ignore[union-attr]
        fields = [f.strip() for f in re.search(r"SELECT\s+(.*?)\s+FROM", soql).group(1).split(",")]  # type: ignore[union-attr]
        records = self.objects.get(sobject, [])
        where = re.search(r"WHERE\s+(\w+)\s*>=\s*(\S+)", soql)
        if where:
            column, bound = where.group(1), _sf_time(where.group(2))
            records = [r for r in records if _sf_time(r[column]) >= bound]
        if not include_deleted:
            records = [r for r in records if not r.get("IsDeleted")]
        return [
            {"attributes": {"type": sobject, "url": f"/services/data/v59.0/sobjects/{sobject}/{r.get('Id', 'x')}"}}
            | {f: r.get(f) for f in fields}
            for r in records
        ]

    def _page(self, base: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        page, rest = records[: self.page_size], records[self.page_size :]
        answer: dict[str, Any] = {"totalSize": len(records), "done": not rest, "records": page}
        if rest:
            locator = f"01g{len(self.cursors) + len(self.requests):05d}-{self.page_size}"
            self.cursors[locator] = rest
            answer["nextRecordsUrl"] = f"{base}/query/{locator}"
        return answer

    def soql(self) -> list[str]:
        return [parse_qs(urlparse(path).query)["q"][0] for _, path, _ in self.requests if "q=" in path]


def hubspot_millis(value: str) -> int:
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass
class HubSpotStandIn(StandIn):
    """Deals/companies search (POST .../search, `after` paging, 10,000-result cap), owners,
    pipelines and deal→company associations (v4 batch read)."""

    deals: list[dict[str, Any]] = field(default_factory=list)  # {"id", "properties": {...}}
    companies: list[dict[str, Any]] = field(default_factory=list)
    owners: list[dict[str, Any]] = field(default_factory=list)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    associations: dict[str, list[str]] = field(default_factory=dict)  # deal id -> company ids
    result_cap: int = 10_000

    def handle(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        path = urlparse(target).path
        if path.startswith("/crm/v3/objects/deals/search"):
            return self._search(self.deals, body)
        if path.startswith("/crm/v3/objects/companies/search"):
            return self._search(self.companies, body)
        if path.startswith("/crm/v3/owners"):
            return 200, {"results": self.owners}
        if path.startswith("/crm/v3/pipelines/deals"):
            return 200, {"results": self.pipelines}
        if path.startswith("/crm/v4/associations/deals/companies/batch/read"):
            results = [
                {"_from": {"id": item["id"]}, "from": {"id": item["id"]},
                 "to": [{"toObjectId": int(c), "associationTypes": []} for c in self.associations.get(item["id"], [])]}
                for item in body["inputs"]
                if self.associations.get(item["id"])
            ]  # fmt: skip
            return 200, {"status": "COMPLETE", "results": results, "startedAt": "2026-03-09T09:00:00Z",
                         "completedAt": "2026-03-09T09:00:01Z"}  # fmt: skip
        return 404, {"status": "error", "message": f"no route {path}"}

    def _search(self, objects: list[dict[str, Any]], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        records = sorted(objects, key=lambda o: (hubspot_millis(o["properties"]["hs_lastmodifieddate"]), o["id"]))
        for group in body.get("filterGroups") or body.get("filter_groups") or []:
            for flt in group["filters"]:
                if flt["propertyName"] == "hs_lastmodifieddate" and flt["operator"] == "GTE":
                    bound = int(flt["value"])
                    records = [r for r in records if hubspot_millis(r["properties"]["hs_lastmodifieddate"]) >= bound]
        after = int(body.get("after") or 0)
        limit = int(body.get("limit") or 10)
        if after >= self.result_cap:
            return 400, {"status": "error", "message": "cannot page beyond 10,000 results"}
        page = records[after : after + limit]
        answer: dict[str, Any] = {
            "total": len(records),
            "results": [
                {"id": r["id"], "properties": {**r["properties"], "hs_object_id": r["id"]},
                 "createdAt": "2026-01-01T00:00:00Z", "updatedAt": r["properties"]["hs_lastmodifieddate"],
                 "archived": False}
                for r in page
            ],
        }  # fmt: skip
        if after + limit < len(records):
            answer["paging"] = {"next": {"after": str(after + limit), "link": "?after=" + str(after + limit)}}
        return 200, answer
