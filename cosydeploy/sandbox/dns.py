"""A stand-in for DNS resolution by Route 53 weights, for cutovers from an old origin.

``GET {dns_url}/{hostname}/{path}`` resolves ``hostname`` as a resolver would under
weighted records: per request it picks one of the weighted records moto's Route 53 holds
for that name, with probability weight / sum of weights (weight 0 never), and forwards
the request to what the record names:

- a CNAME to a sandbox ALB name (``<target group>`` + ``ALB_SUFFIX``, as
  ``weighted_records`` makes it) goes to the ALB stand-in, ``{alb_url}/<target group>/{path}``:
  the client's app_url;
- any other CNAME goes to ``http://<value>/{path}`` (the old origin, ``host:port`` here).

Answers carry ``X-Sandbox-Record: <set identifier>``; ``GET {dns_url}/_sandbox/dns``
returns how many answers each record gave, by hostname and set identifier.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("cosydeploy.sandbox.dns")

# What a weighted record to the sandbox's ALB names: `<target group name>.alb.sandbox`.
ALB_SUFFIX = ".alb.sandbox"
COUNTS_PATH = "/_sandbox/dns"


def weighted_records(hostname: str) -> list[tuple[str, str, int]]:
    """(set identifier, CNAME value, weight) of the weighted records of ``hostname`` in
    moto's Route 53, in any account."""
    from moto.route53.models import route53_backends

    name = hostname.rstrip(".").lower()
    found: list[tuple[str, str, int]] = []
    for account in list(route53_backends.keys()):
        for backend in list(route53_backends[account].values()):
            for zone in list(backend.zones.values()):
                for rr in list(zone.rrsets):
                    if rr.type != "CNAME" or rr.set_identifier is None:
                        continue
                    if rr.name.rstrip(".").lower() != name or not rr.records:
                        continue
                    value = rr.records[0]
                    value = value.get("Value", "") if isinstance(value, dict) else str(value)
                    found.append((rr.set_identifier, value.rstrip("."), int(rr.weight or 0)))
    return found


def choose(records: list[tuple[str, str, int]], rng: random.Random) -> tuple[str, str] | None:
    """One record by weight (weight 0 never); None when every weight is 0."""
    live = [(sid, value, w) for sid, value, w in records if w > 0]
    if not live:
        return None
    sid, value, _ = rng.choices(live, weights=[w for _, _, w in live])[0]
    return sid, value


class DnsProxy:
    """Resolves ``/{hostname}/{path}`` by the weights of moto's records and forwards."""

    def __init__(self, alb_url: str, port: int = 0, seed: int | None = None) -> None:
        self.alb_url = alb_url.rstrip("/")
        self.port = port
        self.counts: dict[str, Counter[str]] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def target_url(self, value: str, path: str) -> str:
        """Where a record's CNAME value sends a request for ``path``."""
        if value.endswith(ALB_SUFFIX):
            return f"{self.alb_url}/{value[: -len(ALB_SUFFIX)]}{path}"
        return f"http://{value}{path}"

    def resolve(self, hostname: str) -> tuple[str, str] | None:
        """Pick a record for one request and count it."""
        with self._lock:
            picked = choose(weighted_records(hostname), self._rng)
            if picked is not None:
                self.counts.setdefault(hostname, Counter())[picked[0]] += 1
        return picked

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {host: dict(c) for host, c in self.counts.items()}

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") == COUNTS_PATH:
                    self._reply(200, json.dumps(proxy.snapshot()).encode(), "")
                    return
                host, _, rest = self.path.lstrip("/").partition("/")
                picked = proxy.resolve(host)
                if picked is None:
                    self._reply(502, f"no weighted record of {host} has weight\n".encode(), "")
                    return
                sid, value = picked
                try:
                    with urllib.request.urlopen(
                        proxy.target_url(value, "/" + rest), timeout=10
                    ) as r:
                        self._reply(r.status, r.read(), sid)
                except urllib.error.HTTPError as exc:
                    self._reply(exc.code, exc.read(), sid)
                except OSError as exc:
                    self._reply(502, f"{value}: {exc}\n".encode(), sid)

            def _reply(self, status: int, body: bytes, sid: str) -> None:
                self.send_response(status)
                if sid:
                    self.send_header("X-Sandbox-Record", sid)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="sandbox-dns", daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def make_weighted_records(
    route53: Any, *, zone_name: str, hostname: str, alb_target_group: str, old_origin: str
) -> str:
    """What the client stack's dns module makes with an old origin: the public zone (made
    when missing) and the two weighted CNAME records of ``hostname``, ``aws`` (to the
    sandbox ALB's name for the target group, weight 0) and ``origin`` (to the old origin,
    weight 100). Records that exist keep their weights (Terraform ignores them: cutover
    moves them); their values are brought up to date. Returns the zone id."""
    zone_id = ""
    for zone in route53.list_hosted_zones_by_name(DNSName=zone_name)["HostedZones"]:
        if zone["Name"].rstrip(".") == zone_name and not zone["Config"].get("PrivateZone"):
            zone_id = zone["Id"].rsplit("/", 1)[-1]
            break
    if not zone_id:
        made = route53.create_hosted_zone(Name=zone_name, CallerReference=f"sandbox-{zone_name}")
        zone_id = made["HostedZone"]["Id"].rsplit("/", 1)[-1]
    weights = {
        rr["SetIdentifier"]: int(rr.get("Weight", 0))
        for rr in route53.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=hostname, StartRecordType="CNAME"
        )["ResourceRecordSets"]
        if rr["Name"].rstrip(".") == hostname.rstrip(".") and "SetIdentifier" in rr
    }
    wanted = {"aws": alb_target_group + ALB_SUFFIX, "origin": old_origin}
    changes = [
        {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": hostname,
                "Type": "CNAME",
                "TTL": 60,
                "SetIdentifier": sid,
                "Weight": weights.get(sid, 100 if sid == "origin" else 0),
                "ResourceRecords": [{"Value": value}],
            },
        }
        for sid, value in wanted.items()
    ]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return zone_id
