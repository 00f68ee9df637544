"""Shortening what AWS and Docker say to what a person reads on a terminal.

ECS events name target groups, tasks and services by whole ARNs and 32-digit ids, and
image digests are 71 characters: on a 120-column terminal one event wraps over two
lines. Here an ARN becomes the name it carries (a target group's or service's name, a
task definition's ``family:revision``), a task id its first 8 digits and a digest its
first 12. The full text stays in ``--debug`` and in JSON output.
"""

from __future__ import annotations

import re

# arn:partition:service:region:account:resource (region and account may be empty)
_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d*:[^\s,;()\"']+")
_DIGEST = re.compile(r"\bsha256:([0-9a-f]{12})[0-9a-f]{52}\b")
# A bare task / container-instance id as ECS events print them: "(task 5c7d0cf8...)".
_TASK_ID = re.compile(
    r"\b(task|container-instance) ([0-9a-f]{8})(?:[0-9a-f]{24}|(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})\b"
)
_LONG_HEX = re.compile(r"^[0-9a-f]{16,}$")

SHORT_ID = 8


def short_arn(arn: str) -> str:
    """The part of an ARN a person recognises.

    >>> short_arn("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/example-dev/00ab")
    'example-dev'
    """
    trailing = ""
    while arn and arn[-1] in ".:":  # sentence punctuation glued onto the ARN
        trailing = arn[-1] + trailing
        arn = arn[:-1]
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn + trailing
    resource = parts[5]
    kind, sep, rest = resource.partition("/")
    if not sep:
        # service:resource-type:name (Secrets Manager, Logs) or a bare name (S3)
        kind, sep, rest = resource.partition(":")
        if not sep:
            return resource + trailing
    segments = [s for s in rest.split("/") if s]
    if not segments:
        return resource + trailing
    if kind in {"task", "container-instance"}:
        return segments[-1][:SHORT_ID] + trailing
    if kind in {"targetgroup", "loadbalancer"} and len(segments) >= 2:
        return segments[-2] + trailing  # targetgroup/NAME/ID, loadbalancer/app/NAME/ID
    last = segments[-1]
    if _LONG_HEX.match(last) and len(segments) >= 2:
        return segments[-2] + trailing
    return last + trailing


def shorten(text: str) -> str:
    """``text`` with every ARN, digest and task id shortened (see the module doc)."""
    text = _ARN.sub(lambda m: short_arn(m.group(0)), text)
    text = _DIGEST.sub(lambda m: f"sha256:{m.group(1)}", text)
    return _TASK_ID.sub(lambda m: f"{m.group(1)} {m.group(2)}", text)


def has_raw_arn(text: str) -> bool:
    """True when ``text`` still holds a whole ARN."""
    return bool(_ARN.search(text))
