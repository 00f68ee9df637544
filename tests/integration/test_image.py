"""Build, push and reuse images: real Docker engine, real registry, moto ECR over HTTP."""

from __future__ import annotations

import base64
import contextlib
import urllib.request
import uuid

import pytest

from cosydeploy.errors import DockerError
from cosydeploy.image import EcrAuth, ImageRef, build, ecr_tag_digest, ensure_image, push

ECR_USER, ECR_PASSWORD = "AWS", "123456789012-auth-token"  # what moto's ECR token holds

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def ecr(aws_session):
    client = aws_session.client("ecr")
    repo = f"cosyworld-{uuid.uuid4().hex[:8]}"
    uri = client.create_repository(repositoryName=repo)["repository"]["repositoryUri"]
    return client, repo, uri


def _registry_digest(registry: str, repo: str, tag: str) -> str:
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
            "application/vnd.oci.image.manifest.v1+json",
            "Authorization": "Basic "
            + base64.b64encode(f"{ECR_USER}:{ECR_PASSWORD}".encode()).decode(),
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Docker-Content-Digest"]


def _link_into_ecr(client, registry: str, repo: str):
    """after_push for a bare registry: record the pushed manifest in moto's ECR (the
    sandbox's registry listener does this; this test has no sandbox)."""

    def link(tag: str, digest: str) -> None:
        req = urllib.request.Request(
            f"http://{registry}/v2/{repo}/manifests/{digest}",
            headers={
                "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json",
                "Authorization": "Basic "
                + base64.b64encode(f"{ECR_USER}:{ECR_PASSWORD}".encode()).decode(),
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            manifest = resp.read().decode()
            media_type = resp.headers.get("Content-Type", "").split(";")[0]
        with contextlib.suppress(client.exceptions.ImageAlreadyExistsException):
            client.put_image(
                repositoryName=repo,
                imageManifest=manifest,
                imageManifestMediaType=media_type,
                imageTag=tag,
                imageDigest=digest,
            )

    return link


def _ensure(ecr, registry, docker_client, ctx, version, sha, image_cleanup, **kw):
    client, repo, uri = ecr
    kw.setdefault("after_push", _link_into_ecr(client, registry, repo))
    image_cleanup.extend(f"{registry}/{repo}:{t}" for t in (version, f"git-{sha[:12]}"))
    return ensure_image(
        ecr_client=client,
        repository_uri=uri,
        version=version,
        git_sha=sha,
        docker_client=docker_client,
        context=str(ctx),
        dockerfile="Dockerfile",
        build_args={"NONCE": uuid.uuid4().hex},
        registry_override=registry,
        **kw,
    )


def test_build_push_record_and_reuse(ecr, registry, docker_client, busybox_context, image_cleanup):
    client, repo, uri = ecr
    lines: list[str] = []
    progress = []
    sha = uuid.uuid4().hex
    img = _ensure(
        ecr,
        registry,
        docker_client,
        busybox_context,
        "v1",
        sha,
        image_cleanup,
        on_build_output=lines.append,
        on_push_progress=progress.append,
    )
    assert img.built
    ecr_host = ImageRef.parse(uri).registry
    assert img.uri == f"{ecr_host}/{repo}@{img.digest}"
    assert img.digest.startswith("sha256:") and len(img.digest) == 71
    # The registry really holds it under both tags, at the digest the push reported.
    assert _registry_digest(registry, repo, "v1") == img.digest
    assert _registry_digest(registry, repo, f"git-{sha[:12]}") == img.digest
    # ECR (moto) knows both tags at that digest.
    assert ecr_tag_digest(client, repo, "v1") == img.digest
    assert ecr_tag_digest(client, repo, f"git-{sha[:12]}") == img.digest
    assert any("busybox" in line or "Step" in line for line in lines)
    assert any(p.layer and p.status for p in progress)
    # The local image carries both tags.
    tags = docker_client.api.inspect_image(f"{registry}/{repo}:v1")["RepoTags"]
    assert f"{registry}/{repo}:git-{sha[:12]}" in tags

    def no_docker():
        raise AssertionError("an existing tag must not be rebuilt")

    again = ensure_image(
        ecr_client=client,
        repository_uri=uri,
        version="v1",
        git_sha=sha,
        docker_client=no_docker,
        registry_override=registry,
    )
    assert (again.digest, again.uri, again.built) == (img.digest, img.uri, False)


def test_never_moves_a_tag(ecr, registry, docker_client, busybox_context, tmp_path, image_cleanup):
    client, repo, _ = ecr
    sha = uuid.uuid4().hex
    first = _ensure(ecr, registry, docker_client, busybox_context, "v1", sha, image_cleanup)
    # Same commit, new version, different content: pushing git-<sha> would move the tag,
    # so the new build gets its version tag and git-<sha> stays where it was.
    (busybox_context / "Dockerfile").write_text(
        (busybox_context / "Dockerfile").read_text() + 'LABEL changed="yes"\n'
    )
    second = _ensure(ecr, registry, docker_client, busybox_context, "v2", sha, image_cleanup)
    assert second.digest != first.digest
    assert ecr_tag_digest(client, repo, "v2") == second.digest
    assert ecr_tag_digest(client, repo, f"git-{sha[:12]}") == first.digest
    assert _registry_digest(registry, repo, f"git-{sha[:12]}") == first.digest


def test_build_error_chunk_fails(docker_client, busybox_context):
    (busybox_context / "Dockerfile").write_text("FROM scratch\nCOPY no-such-file /x\n")
    with pytest.raises(DockerError, match="no-such-file"):
        build(
            docker_client,
            str(busybox_context),
            "Dockerfile",
            [f"cosydeploy-test-{uuid.uuid4().hex[:8]}:broken"],
        )


def test_push_error_chunk_fails(registry, docker_client, busybox_context, image_cleanup):
    from cosydeploy.image import RegistryCredentials

    ref = ImageRef.parse(f"{registry}/errs-{uuid.uuid4().hex[:8]}:v1")
    image_cleanup.append(str(ref))
    build(docker_client, str(busybox_context), "Dockerfile", [str(ref)])
    bad = RegistryCredentials("AWS", "wrong-password", "", 0)
    with pytest.raises(DockerError, match=r"push of .* failed"):
        push(docker_client, ref, bad)


def test_ecr_auth_is_cached_until_expiry(aws_session):
    now = [0.0]
    auth = EcrAuth(aws_session.client("ecr"), clock=lambda: now[0])
    first = auth.get()
    assert (first.username, first.password) == (ECR_USER, ECR_PASSWORD)
    now[0] = first.expires_at - 120
    assert auth.get() is first and auth.calls == 1
    now[0] = first.expires_at - 30  # inside the safety margin: refresh
    auth.get()
    assert auth.calls == 2
