"""Cutover from a client's old home: move its hostname from the old origin to the new ALB
by the weights of two Route 53 weighted records (terraform/modules/dns makes them, with
every request on the origin; Terraform leaves their weights to this module).

A step forward is checked before and after: before any weight moves, the ALB itself
must serve the client's current release (ECS's service runs the ledger's current
release, its health path answers through the ALB three times, and ``/version`` is that
release where the client verifies versions); after, the hostname must answer the health
path.
A step whose check after fails puts the weights back as they were (exit 1). ``back``
puts every request on the old origin at once, with no check first: it is the escape
hatch. Each step is a ledger record of kind ``cutover``; the client/env's deploy lock is
held while weights move. Returns results and emits events; never prints or exits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cosydeploy import events as ev
from cosydeploy.errors import EXIT_NOT_RECOVERED, AwsError, CosydeployError, UsageError
from cosydeploy.outcome import DRY_RUN, ROLLED_BACK, SUCCEEDED, exit_code

if TYPE_CHECKING:
    from cosydeploy.config.resolve import ClientEnv
    from cosydeploy.ledger import Ledger, ReleaseRecord
    from cosydeploy.stack import StackOutputs

KIND = "cutover"
Get = Callable[[str], tuple[int, str]]  # path -> (HTTP status, first line of the body)


class WeightsUnknown(AwsError):
    """A change of weights was accepted and then something failed: the weights may have
    moved without their check (exit 3: a person looks, or runs --back)."""

    exit_code = EXIT_NOT_RECOVERED


@dataclass(frozen=True)
class Records:
    """The two weighted records of a hostname as Route 53 holds them."""

    zone_id: str
    aws: dict[str, Any]
    origin: dict[str, Any]

    @property
    def aws_weight(self) -> int:
        return int(self.aws.get("Weight", 0))

    @property
    def origin_weight(self) -> int:
        return int(self.origin.get("Weight", 0))

    @property
    def percent(self) -> int:
        """The share of requests on the ALB, in whole percent."""
        return aws_percent(self.aws_weight, self.origin_weight)


@dataclass(frozen=True)
class CutoverResult:
    client: str
    env: str
    outcome: str  # succeeded, dry_run, rolled_back (the check after failed: weights back)
    percent_before: int
    percent: int  # the share on the ALB now (or, dry run, what it would be)
    back: bool = False
    version: str = ""
    message: str = ""
    checks: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return exit_code(self.outcome)

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "env": self.env,
            "outcome": self.outcome,
            "back": self.back,
            "percent_before": self.percent_before,
            "percent": self.percent,
            "version": self.version,
            "message": self.message,
            "checks": list(self.checks),
        }


# ----------------------------------------------------------------------- pure parts


def aws_percent(aws: int, origin: int) -> int:
    """The share of requests a resolver sends to the ALB (both weights 0: none)."""
    total = aws + origin
    return 0 if total == 0 else round(100 * aws / total)


def weights(percent: int) -> tuple[int, int]:
    """(aws, origin) weights putting ``percent`` % of requests on the ALB."""
    if not 0 <= percent <= 100:
        raise UsageError(f"--percent {percent} is not between 0 and 100", hint="e.g. --percent 10")
    return percent, 100 - percent


def change_batch(records: Records, aws: int, origin: int, comment: str) -> dict[str, Any]:
    """One change batch moving both weights at once (UPSERT of each whole record set, its
    name, type, TTL and values as Route 53 holds them)."""

    def upsert(rr: dict[str, Any], weight: int) -> dict[str, Any]:
        keep = ("Name", "Type", "SetIdentifier", "TTL", "ResourceRecords")
        return {
            "Action": "UPSERT",
            "ResourceRecordSet": {**{k: rr[k] for k in keep if k in rr}, "Weight": weight},
        }

    return {
        "Comment": comment[:256],
        "Changes": [upsert(records.aws, aws), upsert(records.origin, origin)],
    }


def find_records(
    record_sets: list[dict[str, Any]], name: str, aws_id: str, origin_id: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The weighted records named ``name`` with the two set identifiers."""
    wanted = name.rstrip(".").lower()
    mine = [r for r in record_sets if r.get("Name", "").rstrip(".").lower() == wanted]
    by_id = {r.get("SetIdentifier"): r for r in mine if "Weight" in r}
    return by_id.get(aws_id), by_id.get(origin_id)


def check_serves(
    get: Get,
    health_path: str,
    version: str,
    *,
    times: int = 3,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    """The health path answers 200 ``times`` times in a row and /version is ``version``
    (when given)."""
    for i in range(times):
        code, body = get(health_path)
        if code != 200:
            said = f"HTTP {code}" if code else (body or "no answer")
            return False, f"{health_path} answered {said} (try {i + 1} of {times})"
        if i + 1 < times:
            sleep(interval)
    if version:
        code, body = get("/version")
        if code != 200 or body != version:
            seen = repr(body) if code == 200 else (f"HTTP {code}" if code else body or "nothing")
            return False, f"/version answered {seen}, not {version!r}"
        return True, f"{health_path} answered 200 {times} times, /version {version}"
    return True, f"{health_path} answered 200 {times} times"


# ----------------------------------------------------------------------- the steps


@dataclass
class CutoverTarget:
    """One client/env's cutover: where the records are and how to reach things."""

    c: ClientEnv
    outputs: StackOutputs
    route53: Any
    ledger: Ledger
    lock: Callable[[], Any]  # a DeployLock (context manager) of the client/env
    via_alb: Get  # the new ALB itself, with the client's hostname
    via_hostname: Get  # the hostname as users resolve it
    running: Callable[[], str] | None = None  # the task definition ECS's service runs
    emit: ev.Sink = ev.ignore
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    change_timeout: float = 300.0

    @property
    def key(self) -> str:
        return self.c.target

    def refuse_without_origin(self) -> None:
        c, o = self.c, self.outputs
        require_origin(c)
        if not o.cutover_record_name:
            raise UsageError(
                f"{c.target}: the applied stack has no weighted records for {c.old_origin}",
                hint=f"apply the stack first: cosydeploy apply {c.client} --env {c.env}",
            )

    def _call(self, name: str, **kwargs: Any) -> Any:
        """One Route 53 call; a failure is one line naming the call (exit 2)."""
        from cosydeploy.adapters.aws import aws_fault

        try:
            return getattr(self.route53, name)(**kwargs)
        except Exception as exc:
            raise aws_fault(exc, f"Route 53 {name}") from exc

    def unknown(self, exc: CosydeployError) -> WeightsUnknown:
        """``exc`` after a change of weights was accepted: where things may stand."""
        c = self.c
        err = WeightsUnknown(
            f"{exc.message} (after the weights of {c.hostname} were sent: they may have moved)",
            hint=f"see cosydeploy history {c.client} --env {c.env}; to put every request on "
            f"the old origin: cosydeploy cutover {c.client} --env {c.env} --back",
        )
        err.also = list(exc.also)
        return err

    def zone_id(self) -> str:
        if self.outputs.cutover_zone_id:
            return self.outputs.cutover_zone_id
        zone = self.c.zone_name.rstrip(".")
        found = self._call("list_hosted_zones_by_name", DNSName=zone)["HostedZones"]
        for z in found:
            if z["Name"].rstrip(".") == zone and not z.get("Config", {}).get("PrivateZone"):
                return str(z["Id"]).rsplit("/", 1)[-1]
        raise UsageError(
            f"no public hosted zone {zone} for {self.c.target}",
            hint=f"apply the stack: cosydeploy apply {self.c.client} --env {self.c.env}",
        )

    def read(self) -> Records:
        """The two weighted records as Route 53 holds them now."""
        o = self.outputs
        zone = self.zone_id()
        name = o.cutover_record_name
        sets = self._call(
            "list_resource_record_sets",
            HostedZoneId=zone,
            StartRecordName=name,
            StartRecordType="CNAME",
            MaxItems="10",
        )["ResourceRecordSets"]
        aws, origin = find_records(
            sets, name, o.cutover_aws_set_identifier, o.cutover_origin_set_identifier
        )
        if aws is None or origin is None:
            raise UsageError(
                f"{self.c.target}: zone {zone} has no weighted records "
                f"{o.cutover_aws_set_identifier!r} and {o.cutover_origin_set_identifier!r} "
                f"for {name}",
                hint=f"apply the stack: cosydeploy apply {self.c.client} --env {self.c.env}",
            )
        return Records(zone, aws, origin)

    def move(self, records: Records, aws: int, origin: int, why: str) -> None:
        """Both weights in one change batch, then wait until Route 53 has it everywhere."""
        self.emit(ev.Step(self.key, f"weights: aws {aws}, origin {origin}"))
        change = self._call(
            "change_resource_record_sets",
            HostedZoneId=records.zone_id,
            ChangeBatch=change_batch(records, aws, origin, why),
        )["ChangeInfo"]
        try:
            self._wait(change)
        except CosydeployError as exc:
            raise self.unknown(exc) from exc
        self.emit(ev.Info(self.key, "Route 53: INSYNC"))

    def _wait(self, change: dict[str, Any]) -> None:
        deadline, pause = self.clock() + self.change_timeout, 1.0
        while change.get("Status") != "INSYNC":
            if self.clock() >= deadline:
                raise AwsError(
                    f"Route 53 change {change.get('Id')} is still {change.get('Status')} "
                    f"after {self.change_timeout:g}s"
                )
            self.sleep(pause)
            pause = min(pause * 2, 10.0)
            change = self._call("get_change", Id=change["Id"])["ChangeInfo"]

    def record(self, outcome: str, version: str, stage: str, message: str) -> ReleaseRecord:
        """One finished step in the ledger (never left in_progress: a step is short, and
        the next run has nothing to reconcile)."""
        from cosydeploy.ledger import ReleaseRecord, ci_run_url, current_actor, iso, new_release_id

        now = self.clock()
        return self.ledger.put(
            ReleaseRecord(
                target=self.c.target,
                release_id=new_release_id(now),
                client=self.c.client,
                env=self.c.env,
                version=version,
                digest="",
                image="",
                outcome=outcome,
                kind=KIND,
                started_at=iso(now),
                ended_at=iso(now),
                actor=current_actor(),
                run_url=ci_run_url(),
                strategy=KIND,
                stage=stage,
                message=message,
            )
        )


def require_origin(c: ClientEnv) -> None:
    """A client/env without an old origin has nothing to cut over from: exit 2."""
    if not c.old_origin:
        raise UsageError(
            f"{c.target} has no old origin: its hostname points at the ALB alone",
            hint=f"set old_origin under environments.{c.env} in clients/{c.client}.yaml "
            f"and apply (cosydeploy apply {c.client} --env {c.env}) to cut over from it",
        )


def current_release(ledger: Ledger, c: ClientEnv) -> ReleaseRecord:
    """The client/env's current release: the newest succeeded release or rollback."""
    good = ledger.last_good(c.client, c.env)
    if good is None:
        raise UsageError(
            f"{c.target} has no release yet: nothing on the ALB to cut over to",
            hint=f"release first: cosydeploy release VERSION --client {c.client} --env {c.env}",
        )
    return good


def check_release(t: CutoverTarget, current: ReleaseRecord) -> tuple[bool, str]:
    """The ALB serves ``current``: ECS's service runs its task definition, the health path
    answers through the ALB three times, and /version says its version where the client
    verifies versions (release.verify.version)."""
    c = t.c
    revision = current.task_definition_arn.rsplit("/", 1)[-1]
    if t.running is not None:
        runs = t.running()
        if runs != current.task_definition_arn:
            return False, f"ECS runs {runs.rsplit('/', 1)[-1] or 'nothing'}, not {revision}"
    expected = current.version if c.release.verify_version else ""
    ok, why = check_serves(t.via_alb, c.health_path, expected, sleep=t.sleep)
    return ok, f"{why}; ECS runs {revision}" if ok and t.running is not None else why


def step(t: CutoverTarget, percent: int, *, dry_run: bool = False) -> CutoverResult:
    """Move ``percent`` % of the hostname's requests to the ALB, checked before and after."""
    t.refuse_without_origin()
    aws, origin = weights(percent)
    c = t.c
    current = current_release(t.ledger, c)
    version = current.version
    records = t.read()
    before = records.percent
    t.emit(ev.Step(t.key, f"checking the ALB serves {version}"))
    ok, why = check_release(t, current)
    if not ok:
        raise UsageError(
            f"{c.target}: the ALB does not serve the current release {version}: {why}; "
            "no weight moved",
            hint=f"release or roll back until it does (cosydeploy status {c.client} --env {c.env})",
        )
    checks = [f"ALB: {why}"]
    if dry_run:
        return CutoverResult(
            c.client,
            c.env,
            DRY_RUN,
            before,
            percent,
            version=version,
            message=f"would move {before} % -> {percent} % to the ALB",
            checks=checks,
        )
    with t.lock():
        records = t.read()  # under the lock: what another run left
        before = records.percent
        t.move(records, aws, origin, f"cosydeploy cutover {c.target} {percent}%")
        try:
            return _checked(t, records, percent, version, checks)
        except WeightsUnknown:
            raise
        except CosydeployError as exc:
            raise t.unknown(exc) from exc


def _checked(
    t: CutoverTarget, records: Records, percent: int, version: str, checks: list[str]
) -> CutoverResult:
    """After a step's weights are in: the hostname answers, or the weights go back."""
    c, before = t.c, records.percent
    t.emit(ev.Step(t.key, f"checking {c.hostname} answers"))
    ok, why = check_serves(t.via_hostname, c.health_path, "", sleep=t.sleep)
    checks = [*checks, f"hostname: {why}"]
    if ok:
        msg = f"{before} % -> {percent} % of {c.hostname} on the ALB"
        t.record(SUCCEEDED, version, f"{percent}%", msg)
        outcome, now = SUCCEEDED, percent
    else:
        t.emit(ev.Warning(t.key, f"{c.hostname}: {why}; putting the weights back"))
        t.move(records, records.aws_weight, records.origin_weight, "cosydeploy cutover: back")
        msg = f"{c.hostname} failed its check at {percent} % ({why}); back at {before} %"
        t.record(ROLLED_BACK, version, f"{before}%", msg)
        outcome, now = ROLLED_BACK, before
    return CutoverResult(
        c.client, c.env, outcome, before, now, version=version, message=msg, checks=checks
    )


def back(t: CutoverTarget, *, dry_run: bool = False) -> CutoverResult:
    """Every request to the old origin at once, without any check first (the escape hatch)."""
    t.refuse_without_origin()
    c = t.c
    records = t.read()
    before = records.percent
    note = "no check first: --back is the escape hatch"
    if dry_run:
        return CutoverResult(
            c.client,
            c.env,
            DRY_RUN,
            before,
            0,
            back=True,
            message=f"would put 100 % on {c.old_origin} ({note})",
        )
    with t.lock():
        records = t.read()
        before = records.percent
        t.move(records, 0, 100, f"cosydeploy cutover {c.target} --back")
        msg = f"{before} % -> 0 %: every request of {c.hostname} to {c.old_origin} ({note})"
        try:
            t.record(SUCCEEDED, "", "back", msg)
        except CosydeployError as exc:
            raise t.unknown(exc) from exc
    return CutoverResult(c.client, c.env, SUCCEEDED, before, 0, back=True, message=msg)


def prepare(releaser: Any, c: ClientEnv, *, lock_wait: float = 0.0) -> CutoverTarget:
    """A client/env's cutover on the releaser's platform: its identity (account-guarded),
    the stack outputs recorded at the last apply, Route 53 (through the DNS account's
    role where the zone is there), its ledger and lock, the two ways in."""
    from cosydeploy.lock import DeployLock

    require_origin(c)  # before any AWS call: a refusal needs none
    session = releaser.session(c)
    outputs = releaser.stack_outputs(c)
    via_alb, via_hostname = releaser.platform.cutover_probes(c, outputs)
    table = releaser.project.config.release.lock_table
    ecs = session.client("ecs")

    def running() -> str:
        found = ecs.describe_services(
            cluster=outputs.cluster_name, services=[outputs.service_name]
        ).get("services") or [{}]
        return str(found[0].get("taskDefinition", ""))

    return CutoverTarget(
        c,
        outputs,
        releaser.platform.route53(c, session),
        releaser.ledger(c),
        lambda: DeployLock(
            session.client("dynamodb"),
            c.client,
            c.env,
            table=table,
            wait=lock_wait,
            operation=KIND,
        ),
        via_alb,
        via_hostname,
        running,
        emit=releaser.emit,
        sleep=releaser.sleep,
        clock=releaser.clock,
    )
