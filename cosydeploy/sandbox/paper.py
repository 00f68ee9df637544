"""Paper services: deployments the rollout driver decides without starting containers.

A fleet of hundreds cannot run as containers on one machine, yet the deploy tool's cost
per client (its calls, its polling, its verification) is what a large release measures.
For the services a rule names, the driver runs *paper tasks*: each is a real ECS task in
moto (PENDING, RUNNING, HEALTHY or STOPPED, registered as a target of the service's
target group), but no container is pulled or started and no secret is resolved. The
sandbox's load balancer answers for a paper target itself:

- the target group's health path: ``200 ok``;
- ``/version``: the version of the image the task's definition names: its tag when the
  reference has one, else the tag ECR holds for its digest (what the sample app built
  from that tag serves);
- anything else: ``404``.

Rules (``sandbox up --paper GLOB --paper-fail GLOB[,after=N]``) are shell globs matched
against ``CLUSTER/SERVICE`` and against ``CLUSTER`` alone. ``--paper`` names services that
run on paper; ``--paper-fail`` names paper services whose deployments fail: every task
exits at start (exit code 1), the circuit breaker trips as on ECS and, with rollback on,
ECS goes back to the last completed revision, which completes. ``after=N`` lets the first
N deployments of each matching service complete; a deployment of a revision the service
already completed never fails (it ran before).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from cosydeploy.errors import SandboxError

PAPER_HELP = (
    "Run the tasks of these services on paper, without containers: a glob over "
    "CLUSTER/SERVICE or CLUSTER ('*': all). Repeatable."
)
PAPER_FAIL_HELP = (
    "Paper services whose deployments fail (the circuit breaker trips and rolls back): "
    "GLOB, or GLOB,after=N to let the first N complete. Repeatable."
)


@dataclass(frozen=True)
class FailRule:
    pattern: str
    after: int = 0


def _parse_fail(spec: str) -> FailRule:
    pattern, *opts = [p.strip() for p in spec.split(",")]
    if not pattern:
        raise SandboxError(
            f"--paper-fail {spec!r}: no pattern",
            hint="give a glob over CLUSTER/SERVICE or CLUSTER, e.g. 'cosyworld-acme-*'",
        )
    after = 0
    for opt in opts:
        key, _, value = opt.partition("=")
        if key != "after" or not value.isdigit():
            raise SandboxError(
                f"--paper-fail {spec!r}: unknown option {opt!r}",
                hint="the one option is after=N (the first N deployments complete)",
            )
        after = int(value)
    return FailRule(pattern, after)


@dataclass(frozen=True)
class PaperRules:
    """Which services run on paper, and which of their deployments fail."""

    paper: tuple[str, ...] = ()
    fail: tuple[FailRule, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, paper: list[str] | None, fail: list[str] | None) -> PaperRules:
        """From ``--paper`` and ``--paper-fail`` values (SandboxError on a bad one)."""
        for p in paper or ():
            if not p.strip():
                raise SandboxError(
                    "--paper: an empty pattern", hint="'*' puts every service on paper"
                )
        return cls(tuple(p.strip() for p in paper or ()), tuple(_parse_fail(s) for s in fail or ()))

    def __bool__(self) -> bool:
        return bool(self.paper or self.fail)

    @staticmethod
    def _matches(pattern: str, cluster: str, service: str) -> bool:
        return fnmatch.fnmatchcase(f"{cluster}/{service}", pattern) or fnmatch.fnmatchcase(
            cluster, pattern
        )

    def on_paper(self, cluster: str, service: str) -> bool:
        """The service's tasks run on paper (a fail rule puts it on paper too)."""
        return any(self._matches(p, cluster, service) for p in self.paper) or any(
            self._matches(r.pattern, cluster, service) for r in self.fail
        )

    def fails(self, cluster: str, service: str, completed: int) -> bool:
        """A new deployment of the service fails, after ``completed`` deployments of it
        completed."""
        return any(
            self._matches(r.pattern, cluster, service) and completed >= r.after for r in self.fail
        )

    def as_args(self) -> list[str]:
        """The same rules as command-line options of ``python -m cosydeploy.sandbox``."""
        args: list[str] = []
        for p in self.paper:
            args += ["--paper", p]
        for r in self.fail:
            args += ["--paper-fail", r.pattern + (f",after={r.after}" if r.after else "")]
        return args


@dataclass(frozen=True)
class PaperApp:
    """What a paper task answers behind the load balancer."""

    version: str
    health_path: str

    def reply(self, path: str) -> tuple[int, bytes]:
        path = path.split("?", 1)[0] or "/"
        if path == self.health_path:
            return 200, b"ok\n"
        if path == "/version":
            return 200, f"{self.version}\n".encode()
        return 404, b"not found\n"


def image_version(image: str, tags_of_digest) -> str:
    """The version a paper task serves: the image reference's tag, else the ECR tag of
    its digest (``tags_of_digest(repository, digest)`` -> tags), else its digest."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        name = repo.split("/", 1)[1] if "/" in repo else repo
        tags = tags_of_digest(name, digest)
        return sorted(tags)[-1] if tags else digest
    slash, colon = image.rfind("/"), image.rfind(":")
    return image[colon + 1 :] if colon > slash else "latest"
