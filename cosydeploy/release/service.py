"""The release service: one object that prepares client/envs, releases, promotes, rolls
back and reports, over one platform (AWS or the sandbox).

It returns results and emits events; it never prints, prompts or exits. A release to
one client is a fleet of one: every path goes through ``fleet.run_waves``, one poller
and one outcome table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cosydeploy import events as ev
from cosydeploy.errors import UsageError
from cosydeploy.image import ResolvedImage
from cosydeploy.release import infra_check, pipeline
from cosydeploy.release.fleet import Member, Skip, run_waves
from cosydeploy.release.model import FleetOptions, ReleaseOptions, ReleaseTarget, RunResult
from cosydeploy.release.waves import waves_from_option

if TYPE_CHECKING:
    from cosydeploy.adapters.aws import AwsSession
    from cosydeploy.adapters.platform import AwsPlatform
    from cosydeploy.config.project import Project
    from cosydeploy.config.resolve import ClientEnv
    from cosydeploy.ecs.poller import Poller
    from cosydeploy.ledger import Ledger
    from cosydeploy.stack import StackOutputs


class Releaser:
    """Releases for the clients of one project on one platform."""

    def __init__(
        self,
        project: Project,
        platform: AwsPlatform,
        emit: ev.Sink = ev.ignore,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project = project
        self.platform = platform
        self.emit = emit
        self.clock = clock
        self.sleep = sleep
        self._sessions: dict[tuple[str | None, ...], AwsSession] = {}
        self._making: dict[tuple[str | None, ...], threading.Lock] = {}
        self._lock = threading.Lock()
        self._read_rate = 0.0  # > 0 once a release paces its reads (``pace_reads``)

    # ------------------------------------------------------------------ building blocks

    def session(self, c: ClientEnv) -> AwsSession:
        """The client's identity, account-guarded once per run. Client/envs of one
        identity (account, region, profile, role) share one session and its clients."""
        key = self.identity(c)
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
            making = self._making.setdefault(key, threading.Lock())
        # One identity's session is made once (its STS calls, its guard); another
        # identity's meanwhile, not after it.
        with making:
            with self._lock:
                if key in self._sessions:
                    return self._sessions[key]
            made = self.platform.session(c)
            with self._lock:
                self._sessions[key] = made
                self._pace_session(key)
            return made

    def pace_reads(self, rate: float) -> None:
        """From now on every ECS and ELB read of this releaser's sessions (the checks
        before a rollout, the poller's, the bake's, the verification's) takes a token from
        its account/region's bucket at ``rate`` a second: the one the poller takes from.
        A release's reads of one account, whatever makes them, keep one pace."""
        with self._lock:
            self._read_rate = rate
            for key in self._sessions:
                self._pace_session(key)

    def _pace_session(self, key: tuple[str | None, ...]) -> None:
        from cosydeploy.ecs.poller import buckets_at

        if self._read_rate:
            bucket = buckets_at(self._read_rate)(f"{key[0]}|{key[1]}")  # account|region
            self._sessions[key].pace_reads(
                functools.partial(bucket.take, interruptible=True), bucket.throttled
            )

    @staticmethod
    def identity(c: ClientEnv) -> tuple[str | None, ...]:
        """Who a client/env's AWS calls run as: its account, region, profile and role."""
        return (c.account_id, c.region, c.profile, c.role_arn)

    def ledger(self, c: ClientEnv) -> Ledger:
        from cosydeploy.ledger import Ledger

        return Ledger(self.session(c).client("dynamodb"), self.project.config.release.ledger_table)

    def stack_outputs(self, c: ClientEnv, recorded: dict[str, Any] | None = None) -> StackOutputs:
        """The client stack's outputs as recorded at the last apply; Terraform is read only
        for a stack applied before outputs were recorded."""
        from cosydeploy.stack import StackOutputs

        if recorded is None:
            recorded = self.ledger(c).infra_state(c.client, c.env)
        kept = infra_check.recorded_outputs(recorded)
        if kept is not None:
            return StackOutputs.from_terraform(kept)
        from cosydeploy.infra import Infra
        from cosydeploy.render import render_tfvars

        ws = Infra(self.project, self.platform, self.emit).workspace(c)
        ws.prepare(render_tfvars(self.project, c))
        raw = ws.outputs()
        if not raw.get("cluster_name"):
            raise UsageError(
                f"{c.target} has no infrastructure yet (workspace {c.workspace} has no outputs)",
                hint=f"onboard it first: cosydeploy onboard {c.client} --env {c.env}",
            )
        return StackOutputs.from_terraform(raw)

    def target(self, c: ClientEnv, outputs: StackOutputs) -> ReleaseTarget:
        from cosydeploy.config.load import manifest_path
        from cosydeploy.release.notify import NotifySettings
        from cosydeploy.release.snapshot import SnapshotSettings
        from cosydeploy.render import placeholder_image, project_templates

        cfg = self.project.config
        return ReleaseTarget(
            project=c.project,
            client=c.client,
            env=c.env,
            region=c.region,
            account_id=c.account_id,
            aws=self.session(c),
            outputs=outputs,
            cpu=c.cpu,
            memory=c.memory,
            container_port=c.port,
            health_path=c.health_path,
            environment=c.environment,
            secret_names=c.secrets,
            stop_timeout=c.stop_timeout,
            tags=c.tags,
            lock_table=cfg.release.lock_table,
            ledger_table=cfg.release.ledger_table,
            timeout=float(cfg.release.timeout),
            desired_count=c.desired_count,
            min_tasks=c.min_tasks,
            max_tasks=c.max_tasks,
            manifest=self.project.display(manifest_path(self.project, c.client)),
            templates=project_templates(self.project),
            initial_image=placeholder_image(self.project, c),
            notify=NotifySettings(
                topic_arn=outputs.info_topic_arn,
                webhook_secret=cfg.notifications.webhook_secret or "",
                timeout=cfg.notifications.timeout,
            ),
            snapshot=(
                SnapshotSettings(
                    outputs.redis_replication_group_id, timeout=float(cfg.release.snapshot_timeout)
                )
                if c.redis_snapshot
                else None
            ),
            release=c.release,
            workdir=str(self.project.root),
        )

    def lock_free(self, c: ClientEnv) -> str | None:
        """A release id of now when the deploy lock of ``c`` is free (records started before
        it and still in_progress were left by a run that died); None while it is held."""
        from cosydeploy.ledger import new_release_id
        from cosydeploy.lock import read_holder

        now = new_release_id(self.clock())
        db = self.session(c).client("dynamodb")
        held = read_holder(db, c.client, c.env, table=self.project.config.release.lock_table)
        return None if held else now

    def reconcile(self, c: ClientEnv, outputs: StackOutputs | None = None) -> list[Any]:
        """Resolve, from ECS's own deployment state, the records a run that died left
        in_progress (only while the lock is free: a live run holds it)."""
        from cosydeploy.release.reconcile import reconcile

        before = self.lock_free(c)
        if before is None:
            return []
        o = outputs or self.stack_outputs(c)
        done = reconcile(
            self.ledger(c),
            self.session(c).client("ecs"),
            cluster=o.cluster_name,
            service=o.service_name,
            client=c.client,
            env=c.env,
            before=before,
        )
        for rec in done:
            self.emit(
                ev.Info(
                    c.target,
                    f"reconciled {rec.kind} {rec.version} of {rec.started_at} (its run ended "
                    f"without an outcome): {rec.outcome}; {rec.reconciled_how}",
                )
            )
        return done

    def _fail_fast(self, c: ClientEnv, options: ReleaseOptions | None) -> None:
        """Before any build or push: a lock held by another run is exit 4 now (unless the
        release waits for it), not after the image is made."""
        from cosydeploy.lock import held_error, read_holder

        if options is None or options.dry_run or options.lock_wait > 0:
            return
        db = self.session(c).client("dynamodb")
        holder = read_holder(db, c.client, c.env, table=self.project.config.release.lock_table)
        if holder is not None:
            raise held_error(holder, c.client, c.env)

    def prepare(
        self, c: ClientEnv, infra_mode: str = "auto", options: ReleaseOptions | None = None
    ) -> Member:
        """Account guard, the lock checked (fail fast), stack outputs, records a dead run
        left in_progress reconciled, secrets preflight, Terraform in step, drift."""
        from cosydeploy.render import render_tfvars

        session = self.session(c)
        self._fail_fast(c, options)
        ledger = self.ledger(c)
        recorded = dict(ledger.infra_state(c.client, c.env) or {})
        target = self.target(c, self.stack_outputs(c, recorded))
        if options is not None and not options.dry_run:
            self.reconcile(c, target.outputs)
        pipeline.preflight_secrets(session.client("secretsmanager"), target)
        tfvars = render_tfvars(self.project, c)

        def plan() -> Any:
            from cosydeploy.infra import Infra

            return Infra(self.project, self.platform, self.emit).plan(c).plan

        def record(**fields: Any) -> None:
            ledger.record_infra(c.client, c.env, **fields)
            recorded.update(fields)

        check = infra_check.check_infra(
            mode=infra_mode,
            tfvars=tfvars,
            recorded=dict(recorded),
            plan=plan,
            record=record,
            apply_hint=f"cosydeploy apply {c.client} --env {c.env}",
        )
        o = target.outputs
        svc = (
            session.client("ecs")
            .describe_services(cluster=o.cluster_name, services=[o.service_name])
            .get("services")
            or [{}]
        )[0]
        cidrs = infra_check.service_subnet_cidrs(session.client("ec2"), svc)
        applied = infra_check.applied_view(recorded or None, tfvars)
        warnings = infra_check.terraform_drift(applied, o, svc, cidrs)
        if check.warning:
            warnings.insert(0, check.warning)
        return Member(c.client, c.env, target, infra=check.reason, warnings=warnings, config=c)

    # ------------------------------------------------------------------ images

    def build(
        self,
        version: str,
        *,
        c: ClientEnv | None = None,
        push: bool = False,
        build_args: dict[str, str] | None = None,
        context: Path | None = None,
    ) -> ResolvedImage | list[str]:
        """Build the image of ``version``; with ``push`` (and the client whose account
        holds the ECR repository, or a central registry), push it once and return it by
        digest. Without ``push``: the local tags built."""
        from cosydeploy.adapters.docker import docker_client
        from cosydeploy.image import build as build_image

        img = self.project.config.image
        if push:
            if c is None:  # the project's registry, as the caller (the build role in CI)
                target, session = self.registry_target()
                return self.image_for(target, version, build_args or {}, context, session=session)
            return self.image_for(c, version, build_args or {}, context)
        tags = [f"{img.repository}:{version}"]
        build_image(
            docker_client(),
            str(self._context(context)),
            img.dockerfile,
            tags,
            build_args={"VERSION": version, **img.build_args, **(build_args or {})},
            platform=img.platform,
            on_progress=lambda line: self.emit(ev.BuildOutput(tags[0], line)),
        )
        self.emit(ev.Info("", f"built {tags[0]} (local only; --push sends it to ECR)"))
        return tags

    def _context(self, context: Path | None) -> Path:
        img = self.project.config.image
        chosen = context or self.project.path(img.context)
        return self.platform.build_context(Path(chosen), img.dockerfile)

    def registry_target(self) -> tuple[Any, AwsSession]:
        """The project's ECR registry as a push target (``image.registry_account_id``, else
        the one account every client shares) and the caller's session, guarded to it."""
        from types import SimpleNamespace

        from cosydeploy.adapters.aws import guard_account
        from cosydeploy.config.targets import all_client_envs
        from cosydeploy.identity import registry

        envs = all_client_envs(self.project)
        where = registry(self.project.config, [(c.account_id, c.region) for c in envs])
        if where is None:
            raise UsageError(
                "cosydeploy.yaml: image.registry_account_id: no registry account is named "
                "and the clients use several accounts",
                hint="name the account holding the ECR repository (image.registry_account_id "
                "and image.registry_region), or give --client",
            )
        account, region = where
        session = self.platform.caller_session(region)
        guard_account(session, account, "cosydeploy.yaml: image.registry_account_id")
        target = SimpleNamespace(
            account_id=account, region=region, target=f"registry {account}/{region}"
        )
        return target, session

    def prebuilt(self, c: Any, version: str, digest: str) -> ResolvedImage:
        """The image ``build --push`` made for ``version``, by digest: nothing is built and
        no ECR access is needed (tasks pull by digest)."""
        import re

        from cosydeploy.adapters.git import git_sha
        from cosydeploy.render import ecr_repository_url

        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest or ""):
            raise UsageError(
                f"--digest {digest!r} is not an image digest",
                hint="give the sha256:<64 hex> that `build --push` printed (its digest output)",
            )
        return ResolvedImage(
            version,
            git_sha(self.project.root),
            digest,
            f"{ecr_repository_url(self.project, c)}@{digest}",
        )

    def image_for(
        self,
        c: Any,
        version: str,
        build_args: dict[str, str],
        context: Path | None,
        *,
        session: AwsSession | None = None,
    ) -> ResolvedImage:
        """Build once and push, or reuse the digest already in ECR for this version."""
        from cosydeploy.adapters.docker import docker_client
        from cosydeploy.adapters.git import git_sha
        from cosydeploy.image import ensure_image
        from cosydeploy.render import ecr_repository_url

        img = self.project.config.image
        session = session or self.session(c)
        ecr = session.client("ecr")
        self.emit(ev.Step(c.target, f"image {img.repository}:{version}"))
        resolved = ensure_image(
            ecr_client=ecr,
            repository_uri=ecr_repository_url(self.project, c),
            version=version,
            git_sha=git_sha(self.project.root),
            docker_client=docker_client,
            context=str(self._context(context)),
            dockerfile=img.dockerfile,
            build_args={"VERSION": version, **img.build_args, **build_args},
            platform=img.platform,
            registry_override=self.platform.push_registry(),
            on_build_output=lambda line: self.emit(ev.BuildOutput(c.target, line)),
            on_push_progress=lambda p: self.emit(
                ev.PushProgress(c.target, p.layer, p.status, p.current, p.total)
            ),
            on_warning=lambda msg: self.emit(ev.Warning(c.target, msg, cause="tag-kept")),
            on_info=lambda msg: self.emit(ev.Info(c.target, msg)),
            after_push=lambda tag, digest: self.platform.after_push(
                ecr, img.repository, tag, digest
            ),
        )
        self.emit(
            ev.Info(
                c.target,
                f"{'built and pushed' if resolved.built else 'already in ECR, reused'}: "
                f"{resolved.uri}",
            )
        )
        return resolved

    def _built_once(
        self, version: str, build_args: dict[str, str], context: Path | None
    ) -> Callable[[Member], ResolvedImage]:
        """image_for: build and push once per ECR repository (one per account/region)."""
        from cosydeploy.render import ecr_repository_url

        made: dict[str, ResolvedImage] = {}
        guard = threading.Lock()

        def image_for(m: Member) -> ResolvedImage:
            repo = ecr_repository_url(self.project, m.config)
            with guard:
                if repo not in made:
                    made[repo] = self.image_for(m.config, version, build_args, context)
                return made[repo]

        return image_for

    def _promoted(self, version: str, from_env: str) -> Callable[[Member], ResolvedImage]:
        """image_for: the exact image (by digest) of ``version``'s good release in ``from_env``."""
        from cosydeploy.config.targets import client_env

        def image_for(m: Member) -> ResolvedImage:
            src = client_env(self.project, m.client, from_env)
            good = self.ledger(src).last_good(m.client, src.env, version=version)
            if good is None or not good.digest or "@" not in good.image:
                raise UsageError(
                    f"{m.client}: {version} never succeeded in {src.env}; refusing to promote it",
                    hint=f"release it there first: cosydeploy release {version} --client "
                    f"{m.client} --env {src.env}",
                )
            self.emit(
                ev.Info(
                    f"{m.client}/{m.env}",
                    f"promoting {version} from {src.env} by digest {good.digest[:19]}",
                )
            )
            return ResolvedImage(
                version=version, git_sha=good.git_sha, digest=good.digest, uri=good.image
            )

        return image_for

    # ------------------------------------------------------------------ runs

    def _waves(self, envs: list[ClientEnv], fleet: FleetOptions) -> list[list[str]]:
        return waves_from_option(fleet.waves, [c.client for c in envs], base=self.project.root)

    def _paced(self, options: ReleaseOptions | None) -> ReleaseOptions:
        """``options`` with the project's ECS read rate (``release.ecs_reads_per_second``),
        which from now on paces every ECS and ELB read of the run's sessions."""
        rate = self.project.config.release.ecs_reads_per_second
        self.pace_reads(rate)
        return dataclasses.replace(options or ReleaseOptions(), reads_per_second=rate)

    def _release_run(self, options: ReleaseOptions) -> Callable[[Member, Poller], Any]:
        def run(m: Member, poller: Poller) -> Any:
            assert m.image is not None
            return pipeline.release_one(
                m.target,
                m.image,
                options,
                emit=self.emit,
                poller=poller,
                clock=self.clock,
                sleep=self.sleep,
            )

        return run

    def release(
        self,
        version: str,
        envs: list[ClientEnv],
        options: ReleaseOptions | None = None,
        fleet: FleetOptions | None = None,
        *,
        build_args: dict[str, str] | None = None,
        context: Path | None = None,
        digest: str | None = None,
    ) -> RunResult:
        """Build once (or take the ``digest`` pushed before), then release ``version`` to
        every client/env of ``envs``, in waves."""
        options, fleet = self._paced(options), fleet or FleetOptions()
        by_client = {c.client: c for c in envs}
        image_for = (
            (lambda m: self.prebuilt(m.config, version, digest))
            if digest
            else self._built_once(version, build_args or {}, context)
        )

        def prepare(cid: str) -> Member:
            c = by_client[cid]
            if fleet.after_previous:
                why = self.not_through_previous(c, version, digest)
                if why:
                    raise Skip(why)
            return self.prepare(c, fleet.infra, options)

        return run_waves(
            self._waves(envs, fleet),
            env=envs[0].env,
            version=version,
            prepare=prepare,
            run=self._release_run(options),
            image_for=image_for,
            parallel=fleet.parallel,
            options=options,
            emit=self.emit,
            keep_going=fleet.keep_going,
        )

    def not_through_previous(self, c: ClientEnv, version: str, digest: str | None) -> str:
        """Why ``version`` (by ``digest``, when given) may not go to ``c`` yet: it has no
        good release in the client's previous environment, read from that environment's
        ledger; "" when it may (or ``c`` is the client's first environment)."""
        from cosydeploy.config.load import load_manifest
        from cosydeploy.config.targets import client_env, previous_env

        manifest, _ = load_manifest(self.project, c.client)
        prev = previous_env(self.project.config.environments, manifest.environments, c.env)
        if prev is None:
            return ""
        good = self.ledger(client_env(self.project, c.client, prev)).last_good(
            c.client, prev, version=version
        )
        if good is None:
            return f"{version} has not succeeded in {prev}: {c.env} not released"
        if digest and good.digest != digest:
            return (
                f"{prev} succeeded with {version} as {good.digest[:19]}, not {digest[:19]}: "
                f"{c.env} not released"
            )
        return ""

    def promote(
        self,
        version: str,
        from_env: str,
        envs: list[ClientEnv],
        options: ReleaseOptions | None = None,
        fleet: FleetOptions | None = None,
    ) -> RunResult:
        """Release to ``envs`` the exact digest that succeeded in ``from_env``; builds nothing."""
        options, fleet = self._paced(options), fleet or FleetOptions()
        if envs and from_env == envs[0].env:
            raise UsageError("--from and --to name the same environment")
        by_client = {c.client: c for c in envs}
        return run_waves(
            self._waves(envs, fleet),
            env=envs[0].env,
            version=version,
            prepare=lambda cid: self.prepare(by_client[cid], fleet.infra, options),
            run=self._release_run(options),
            image_for=self._promoted(version, from_env),
            parallel=fleet.parallel,
            options=options,
            emit=self.emit,
        )

    def rollback(
        self, c: ClientEnv, to_version: str | None = None, options: ReleaseOptions | None = None
    ) -> RunResult:
        """Back to the previous good release (or ``to_version``), watched and verified.
        Needs only ECS and DynamoDB (the stack outputs come from the ledger)."""
        options = self._paced(options)

        def prepare(_: str) -> Member:
            return Member(c.client, c.env, self.target(c, self.stack_outputs(c)), config=c)

        def run(m: Member, poller: Poller) -> Any:
            return pipeline.rollback_one(
                m.target,
                to_version,
                options,
                emit=self.emit,
                poller=poller,
                clock=self.clock,
                sleep=self.sleep,
            )

        return run_waves(
            [[c.client]],
            env=c.env,
            version=to_version or "",
            prepare=prepare,
            run=run,
            options=options,
            emit=self.emit,
        )

    # ------------------------------------------------------------------ reading

    def status(self, envs: list[ClientEnv], *, workers: int = 16) -> list[dict[str, Any]]:
        """Per client/env: serving version, digest, revision, counts, rollout, last release.

        Built for fleets: one session per identity (the account guard once), made in
        parallel, the stack outputs from the ledger (no Terraform), ``describe_services``
        once per cluster for every 10 services, a task definition read only for a revision
        no ledger record names, nor the stack's own (recorded at apply time), and the reads
        of different client/envs and accounts in parallel (``workers``)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cosydeploy-status") as ex:
            return self._status(envs, ex)

    def _status(self, envs: list[ClientEnv], ex: Any) -> list[dict[str, Any]]:
        from cosydeploy.status import describe_services_batched, status_row

        # Each identity's session (its STS calls, the account guard) made at once; the
        # error raised is still that of the first client, in order, it refuses.
        firsts: dict[tuple[str | None, ...], ClientEnv] = {}
        for c in envs:
            firsts.setdefault(self.identity(c), c)
        made = {key: ex.submit(self.session, c) for key, c in firsts.items()}
        for c in envs:
            made[self.identity(c)].result()

        # The stack outputs recorded at apply time: one BatchGetItem per ledger (a table in
        # one account and region) for every 100 client/envs, not a GetItem each; the
        # ledgers of different accounts read at once.
        by_ledger: dict[int, tuple[Ledger, list[ClientEnv]]] = {}
        for c in envs:
            db = self.session(c).client("dynamodb")
            by_ledger.setdefault(id(db), (self.ledger(c), []))[1].append(c)
        recorded: dict[tuple[str, str], dict[str, Any]] = {}
        for got in ex.map(
            lambda entry: entry[0].infra_states([(c.client, c.env) for c in entry[1]]),
            list(by_ledger.values()),
        ):
            recorded.update(got)

        # The image of a revision, by its ARN (a revision never changes): the stack's own
        # revision, recorded at apply time, is known without asking ECS.
        images: dict[str, str] = {}

        def read(c: ClientEnv) -> tuple[Any, list[Any]] | None:
            rec = recorded[(c.client, c.env)]
            try:
                target = self.target(c, self.stack_outputs(c, rec))
            except UsageError:  # no outputs anywhere: nothing to report on yet
                return None
            if rec and rec.get("stack_revision"):
                images[rec["stack_revision"]] = target.initial_image
            ledger = self.ledger(c)
            history = ledger.history(c.client, c.env, None)
            if any(r.outcome == "in_progress" for r in history) and self.reconcile(
                c, target.outputs
            ):
                history = ledger.history(c.client, c.env, None)
            return target, history

        def image_of(target: Any) -> Callable[[str], str]:
            from cosydeploy.ecs.taskdef import container_image

            def lookup(arn: str) -> str:
                if arn not in images:
                    td = target.aws.client("ecs").describe_task_definition(taskDefinition=arn)
                    images[arn] = (
                        container_image(td["taskDefinition"], target.outputs.container_name) or ""
                    )
                return images[arn]

            return lookup

        def row(c: ClientEnv, got: tuple[Any, list[Any]] | None) -> dict[str, Any]:
            if got is None:
                return {"client": c.client, "env": c.env, "rollout": "not onboarded"}
            t, history = got
            o = t.outputs
            svc = services.get((id(t.aws.client("ecs")), o.cluster_name, o.service_name))
            return status_row(t, svc, history, image_of(t))

        read_all = list(ex.map(read, envs))
        ready = [x for x in read_all if x is not None]
        services = describe_services_batched(
            [
                (t.aws.client("ecs"), t.outputs.cluster_name, t.outputs.service_name)
                for t, _ in ready
            ],
            run=lambda call: ex.submit(call),
        )
        # A revision no record names is read from ECS: those reads in parallel too.
        return list(ex.map(row, envs, read_all))

    def history(self, c: ClientEnv, limit: int = 20) -> list[Any]:
        """The ledger of ``c``, newest first, after reconciling what a dead run left."""
        with contextlib.suppress(UsageError):  # never onboarded: no service to ask
            self.reconcile(c)
        return self.ledger(c).history(c.client, c.env, limit)

    def unlock(self, c: ClientEnv) -> Any:
        """Force the deploy lock open; returns who held it (or None)."""
        from cosydeploy.lock import force_unlock

        return force_unlock(
            self.session(c).client("dynamodb"),
            c.client,
            c.env,
            table=self.project.config.release.lock_table,
        )
