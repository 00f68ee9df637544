"""Images: references parsed (not split), build once, push to ECR by token, reuse by digest.

A tag in ECR is never moved to a different digest. When the version's tag already
exists, its digest is reused and nothing is built.

The docker and ECR clients are passed in (built at the edge); the docker client is
only needed when something must actually be built or pushed.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cosydeploy.errors import AwsError, DockerError, UsageError

# The grammar of docker/distribution's reference package, written out.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"
)


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: ``[registry/]repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse a reference; raises UsageError naming the bad part."""
        ref = text.strip()
        if not ref:
            raise UsageError("empty image reference")
        name, at, digest = ref.partition("@")
        if at and not _DIGEST_RE.match(digest):
            raise UsageError(
                f"image reference {text!r}: bad digest {digest!r}",
                hint="a digest looks like sha256:<64 hex>",
            )
        registry = ""
        first, slash, rest = name.partition("/")
        # The first component is a registry only if it looks like a host.
        looks_like_host = "." in first or ":" in first or first == "localhost" or first[:1] == "["
        if slash and looks_like_host:
            if not _HOST_RE.match(first):
                raise UsageError(f"image reference {text!r}: bad registry host {first!r}")
            registry, name = first, rest
        last_slash = name.rfind("/")
        colon = name.find(":", last_slash + 1)
        tag = ""
        if colon >= 0:
            name, tag = name[:colon], name[colon + 1 :]
            if not _TAG_RE.match(tag):
                raise UsageError(f"image reference {text!r}: bad tag {tag!r}")
        if not _REPOSITORY_RE.match(name):
            raise UsageError(
                f"image reference {text!r}: bad repository {name!r}",
                hint="repository names are lowercase letters, digits and . _ - separated by /",
            )
        return cls(registry=registry, repository=name, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def with_tag(self, tag: str) -> ImageRef:
        return replace(self, tag=tag, digest="")

    def with_digest(self, digest: str) -> ImageRef:
        return replace(self, tag="", digest=digest)

    def with_registry(self, registry: str) -> ImageRef:
        return replace(self, registry=registry)

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


@dataclass(frozen=True)
class ResolvedImage:
    """The image a release deploys: always by digest."""

    version: str
    git_sha: str
    digest: str
    uri: str  # <ecr_host>/<repo>@sha256:...
    built: bool = False

    @property
    def ref(self) -> ImageRef:
        return ImageRef.parse(self.uri)


@dataclass(frozen=True)
class PushProgress:
    """One push progress event for one layer."""

    layer: str
    status: str
    current: int | None = None
    total: int | None = None


def parse_build_args(pairs: list[str] | None) -> dict[str, str]:
    """``--build-arg KEY=VALUE`` flags as a dict; a malformed one is bad input."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(
                f"--build-arg {pair!r} is not KEY=VALUE",
                hint="e.g. --build-arg NODE_ENV=production",
            )
        out[key] = value
    return out


def image_tags(version: str, git_sha: str) -> list[str]:
    """The tags a build carries: the version and ``git-<short sha>``."""
    tags = [version]
    if git_sha and git_sha != "unknown":
        tags.append(f"git-{git_sha[:12]}")
    for t in tags:
        if not _TAG_RE.match(t):
            raise UsageError(
                f"{t!r} is not a valid image tag",
                hint="tags are letters, digits, _ . - (at most 128)",
            )
    return tags


def _api(docker_client: Any) -> Any:
    """Accept either docker.DockerClient or docker.APIClient."""
    return getattr(docker_client, "api", docker_client)


def _chunk_error(chunk: Mapping[str, Any]) -> str | None:
    if chunk.get("error"):
        return str(chunk["error"]).strip()
    detail = chunk.get("errorDetail")
    if detail:
        return str(detail.get("message") if isinstance(detail, dict) else detail).strip()
    return None


def build(
    docker_client: Any,
    context: str,
    dockerfile: str,
    tags: Iterable[str],
    build_args: Mapping[str, str] | None = None,
    platform: str = "linux/amd64",
    on_progress: Callable[[str], None] | None = None,
) -> str:
    """Build an image with the low-level API, tag it with every ref in ``tags``.

    Streams the build output to ``on_progress`` line by line; any chunk carrying
    ``error`` or ``errorDetail`` fails the build. Returns the image id.
    """
    tags = list(tags)
    if not tags:
        raise UsageError("build needs at least one tag")
    api = _api(docker_client)
    from docker.errors import APIError, DockerException

    image_id = ""
    try:
        stream = api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tags[0],
            buildargs=dict(build_args or {}),
            platform=platform,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            err = _chunk_error(chunk)
            if err:
                raise DockerError(
                    f"docker build failed: {err}", hint=f"check {dockerfile} in {context}"
                )
            if "stream" in chunk and on_progress:
                line = str(chunk["stream"]).rstrip("\n")
                if line.strip():
                    on_progress(line)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = aux["ID"]
        if not image_id:
            image_id = api.inspect_image(tags[0])["Id"]
        for t in tags[1:]:
            ref = ImageRef.parse(t)
            api.tag(image_id, ref.name, ref.tag or "latest")
    except (APIError, DockerException) as exc:
        raise DockerError(
            f"docker build failed: {exc}", hint="is the Docker engine running? (docker info)"
        ) from exc
    return image_id


@dataclass(frozen=True)
class RegistryCredentials:
    username: str
    password: str
    endpoint: str
    expires_at: float

    def auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


class EcrAuth:
    """Registry credentials from ECR's ``get_authorization_token``, cached until they expire."""

    def __init__(
        self, ecr_client: Any, *, clock: Callable[[], float] = time.time, margin: float = 60.0
    ) -> None:
        self._ecr = ecr_client
        self._clock = clock
        self._margin = margin
        self._cached: RegistryCredentials | None = None
        self.calls = 0

    def get(self) -> RegistryCredentials:
        """Cached credentials, refreshed when within ``margin`` seconds of expiry."""
        if self._cached and self._clock() < self._cached.expires_at - self._margin:
            return self._cached
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.calls += 1
            data = self._ecr.get_authorization_token()["authorizationData"][0]
        except (ClientError, BotoCoreError) as exc:
            from cosydeploy.adapters.aws import aws_fault

            raise aws_fault(exc, "ECR get_authorization_token (the registry login)") from exc
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        from cosydeploy.adapters.ci import mask

        mask(password)  # a registry password must never reach a CI log
        expires = data.get("expiresAt")
        expires_at = (
            expires.timestamp()
            if hasattr(expires, "timestamp")
            else float(expires or self._clock() + 3600)
        )
        endpoint = data.get("proxyEndpoint", "")
        self._cached = RegistryCredentials(user, password, endpoint, expires_at)
        return self._cached


def push(
    docker_client: Any,
    ref: ImageRef,
    credentials: RegistryCredentials | None = None,
    on_progress: Callable[[PushProgress], None] | None = None,
) -> str:
    """Push ``ref`` (which must carry a tag) and return the pushed manifest's digest.

    The push stream does not raise on failure: any chunk with ``error`` fails the
    push here, and the digest comes from the final ``aux`` chunk.
    """
    if not ref.tag:
        raise UsageError(f"push needs a tag: {ref}")
    api = _api(docker_client)
    from docker.errors import APIError, DockerException

    digest = ""
    try:
        stream = api.push(
            ref.name,
            tag=ref.tag,
            stream=True,
            decode=True,
            auth_config=credentials.auth_config() if credentials else None,
        )
        for chunk in stream:
            err = _chunk_error(chunk)
            if err:
                raise DockerError(
                    f"push of {ref} failed: {err}",
                    hint="check the registry login and that the repository exists",
                )
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = aux["Digest"]
            elif on_progress and chunk.get("id") and chunk.get("status"):
                detail = chunk.get("progressDetail") or {}
                on_progress(
                    PushProgress(
                        chunk["id"], chunk["status"], detail.get("current"), detail.get("total")
                    )
                )
    except (APIError, DockerException) as exc:
        raise DockerError(
            f"push of {ref} failed: {exc}", hint="is the Docker engine running? (docker info)"
        ) from exc
    if not digest:
        raise DockerError(
            f"push of {ref} reported no digest",
            hint="the registry answered without a manifest digest; retry the push",
        )
    return digest


def ecr_tag_digest(ecr_client: Any, repository: str, tag: str) -> str | None:
    """The digest the tag points to in ECR, or None when the tag does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cosydeploy.adapters.aws import aws_fault

    try:
        resp = ecr_client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except BotoCoreError as exc:
        raise aws_fault(exc, f"ECR describe_images {repository}:{tag}") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ImageNotFoundException":
            return None
        if code == "RepositoryNotFoundException":
            raise AwsError(
                f"ECR repository {repository!r} does not exist",
                hint="apply the bootstrap stack (or start the sandbox)",
            ) from exc
        raise aws_fault(exc, f"ECR describe_images {repository}:{tag}") from exc
    details = resp.get("imageDetails") or []
    return details[0]["imageDigest"] if details else None


def tag_taken(exc: DockerError) -> bool:
    """The registry refused a push because the tag already names another image (an
    IMMUTABLE ECR repository: ``tag invalid: The image tag ... already exists``)."""
    text = exc.message.lower()
    return "already exists" in text and "tag" in text


def wait_tag_digest(
    ecr_client: Any,
    repository: str,
    tag: str,
    *,
    timeout: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """The digest ``tag`` names in ECR, waiting a little for a push that just landed."""
    deadline = time.monotonic() + timeout
    while True:
        found = ecr_tag_digest(ecr_client, repository, tag)
        if found or time.monotonic() >= deadline:
            return found
        sleep(0.25)


def _refuse_move(repository: str, tag: str, existing: str, new: str) -> DockerError:
    return DockerError(
        f"tag {repository}:{tag} already points to {existing}; refusing to move it to {new}",
        hint="image tags are immutable here: release a new version instead",
    )


def ensure_image(
    *,
    ecr_client: Any,
    repository_uri: str,
    version: str,
    git_sha: str,
    docker_client: Any | Callable[[], Any] = None,
    context: str = ".",
    dockerfile: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
    platform: str = "linux/amd64",
    registry_override: str | None = None,
    auth: EcrAuth | None = None,
    on_build_output: Callable[[str], None] | None = None,
    on_push_progress: Callable[[PushProgress], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    after_push: Callable[[str, str], None] | None = None,
    on_info: Callable[[str], None] | None = None,
) -> ResolvedImage:
    """Make sure ``<repository_uri>:<version>`` exists in ECR and return it by digest.

    If the version tag exists, its digest is reused and nothing is built. Otherwise
    the image is built (``docker_client`` may be a zero-argument factory so a reuse
    needs no Docker engine), tagged ``version`` and ``git-<sha>``, and pushed; a tag
    that already exists at another digest is never moved (DockerError).

    ``registry_override`` (``host:port``) is where docker pushes instead of the ECR
    host; the returned URI always names the ECR host. ``after_push(tag, digest)`` runs
    after each tag is pushed (a stand-in registry waits there until its ECR sees it).
    """
    base = ImageRef.parse(repository_uri)
    if base.tag or base.digest or not base.registry:
        raise UsageError(f"ECR repository URI {repository_uri!r} must be host/repository")
    repo = base.repository
    tags = image_tags(version, git_sha)

    existing = ecr_tag_digest(ecr_client, repo, version)
    if existing:
        return ResolvedImage(version, git_sha, existing, str(base.with_digest(existing)))

    if docker_client is None:
        raise DockerError(
            f"{base.name}:{version} is not in ECR and no Docker engine was given",
            hint="run cosydeploy build VERSION --push first",
        )
    if (
        callable(docker_client)
        and not hasattr(docker_client, "api")
        and not hasattr(docker_client, "build")
    ):
        docker_client = docker_client()

    push_base = base.with_registry(registry_override) if registry_override else base
    build(
        docker_client,
        context,
        dockerfile,
        [str(push_base.with_tag(t)) for t in tags],
        build_args=build_args,
        platform=platform,
        on_progress=on_build_output,
    )

    auth = auth or EcrAuth(ecr_client)
    creds = auth.get()
    try:
        digest = push(docker_client, push_base.with_tag(version), creds, on_push_progress)
    except DockerError as exc:
        # Another run pushed this version since we looked: its image is the version's
        # (a tag never moves). Use the digest the tag names; ours is not pushed.
        theirs = wait_tag_digest(ecr_client, repo, version) if tag_taken(exc) else None
        if not theirs:
            raise
        if on_info:
            on_info(
                f"{repo}:{version} was pushed by another run meanwhile and tags never move: "
                f"using the digest it names, {theirs[:19]} (this build is not used)"
            )
        return ResolvedImage(version, git_sha, theirs, str(base.with_digest(theirs)))
    if after_push:
        after_push(version, digest)
    for t in tags[1:]:
        current = ecr_tag_digest(ecr_client, repo, t)
        if current and current != digest:
            # Another build of the same commit (another version, other build args) owns
            # this tag: it keeps it. Tags never move; the version tag is the one we need.
            if on_warning:
                on_warning(f"{repo}:{t} already names {current[:19]}; left as is (tags never move)")
            continue
        if current == digest:
            continue
        try:
            pushed = push(docker_client, push_base.with_tag(t), creds, on_push_progress)
        except DockerError as exc:
            if not tag_taken(exc):
                raise
            if on_warning:  # taken meanwhile by another build of this commit: it keeps it
                on_warning(f"{repo}:{t} already names another image; left as is (tags never move)")
            continue
        if pushed != digest:
            raise DockerError(f"{t} pushed as {pushed}, expected {digest}")
        if after_push:
            after_push(t, digest)
    return ResolvedImage(version, git_sha, digest, str(base.with_digest(digest)), built=True)


def tag_existing(ecr_client: Any, repository: str, digest: str, tag: str) -> None:
    """Add ``tag`` to an image already in ECR (promotion by digest), never moving a tag."""
    current = ecr_tag_digest(ecr_client, repository, tag)
    if current == digest:
        return
    if current:
        raise _refuse_move(repository, tag, current, digest)
    from botocore.exceptions import BotoCoreError, ClientError

    from cosydeploy.adapters.aws import aws_fault

    try:
        img = ecr_client.batch_get_image(
            repositoryName=repository, imageIds=[{"imageDigest": digest}]
        )["images"]
        if not img:
            raise AwsError(f"{repository}@{digest} is not in ECR")
        ecr_client.put_image(
            repositoryName=repository,
            imageManifest=img[0]["imageManifest"],
            imageTag=tag,
            imageDigest=digest,
        )
    except (ClientError, BotoCoreError) as exc:
        raise aws_fault(exc, f"ECR tagging {repository}@{digest[:19]} as {tag}") from exc
