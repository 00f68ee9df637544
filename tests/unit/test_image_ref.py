"""Image references are parsed, not split."""

import pytest

from cosydeploy.errors import UsageError
from cosydeploy.image import ImageRef, image_tags

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("app", "", "app", "", ""),
        ("app:1.0", "", "app", "1.0", ""),
        ("library/app:v1.4.0", "", "library/app", "v1.4.0", ""),
        ("host:5000/app", "host:5000", "app", "", ""),
        ("host:5000/app:v1", "host:5000", "app", "v1", ""),
        (f"host:5000/app@{D}", "host:5000", "app", "", D),
        (f"host:5000/team/app:v1@{D}", "host:5000", "team/app", "v1", D),
        ("localhost/app", "localhost", "app", "", ""),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/cosyworld:git-abc123",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "cosyworld",
            "git-abc123",
            "",
        ),
        (f"127.0.0.1:5000/cosyworld@{D}", "127.0.0.1:5000", "cosyworld", "", D),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x", ""),
    ],
)
def test_parse(text, registry, repository, tag, digest):
    ref = ImageRef.parse(text)
    got = (ref.registry, ref.repository, ref.tag, ref.digest)
    assert got == (registry, repository, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "App:1",
        "host:5000/app:",
        "app@sha256:123",
        "app:bad tag",
        "host:5000/app:v1:v2",
        "-app",
        "app@md5",
    ],
)
def test_parse_rejects(text):
    with pytest.raises(UsageError):
        ImageRef.parse(text)


def test_with_digest_drops_tag_and_keeps_host():
    ref = ImageRef.parse("host:5000/app:v1").with_digest(D)
    assert str(ref) == f"host:5000/app@{D}"
    assert str(ref.with_registry("ecr.example.com")) == f"ecr.example.com/app@{D}"
    assert str(ref.with_tag("v2")) == "host:5000/app:v2"


def test_image_tags():
    assert image_tags("v1.4.0", "0123456789abcdef0123") == ["v1.4.0", "git-0123456789ab"]
    assert image_tags("v1", "") == ["v1"]
    with pytest.raises(UsageError):
        image_tags("bad/tag", "abc")
