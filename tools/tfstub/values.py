"""Terraform values on the wire, and the walks over a schema block that planning needs.

Types are Terraform's JSON type specs ("string", ["list", "string"], ["object", {...}]).
Values are plain Python: None for null, UNKNOWN for "known after apply", dict for
objects and maps, list for lists, sets and tuples.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

# cty marks an unknown value as a msgpack extension; any extension is read as unknown.
_UNKNOWN_WIRE = msgpack.ExtType(0, b"\x00")

NESTING = {"single": 1, "list": 2, "set": 3, "map": 4, "group": 5}


def block_type(block: dict[str, Any]) -> Any:
    """The object type a schema block implies."""
    attrs: dict[str, Any] = {n: a["type"] for n, a in block.get("attributes", {}).items()}
    for name, nb in block.get("block_types", {}).items():
        inner = block_type(nb["block"])
        mode = nb["nesting_mode"]
        attrs[name] = inner if mode in ("single", "group") else [mode, inner]
    return ["object", attrs]


# ------------------------------------------------------------------------ msgpack


def _ext_hook(code: int, data: bytes) -> Any:
    return UNKNOWN


def unpack(data: bytes, ty: Any) -> Any:
    """A msgpack DynamicValue of type ``ty`` to Python."""
    if not data:
        return None
    raw = msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    return _from_raw(raw, ty, wire=True)


def pack(value: Any, ty: Any) -> bytes:
    """Python to a msgpack DynamicValue of type ``ty``."""
    return msgpack.packb(_to_wire(value, ty), use_bin_type=True)


def from_json_state(text: bytes, ty: Any) -> Any:
    """A resource's JSON state (as stored in a state file) to Python."""
    return _from_raw(json.loads(text), ty, wire=False)


def _from_raw(raw: Any, ty: Any, wire: bool) -> Any:
    if raw is None or raw is UNKNOWN:
        return raw
    if ty == "dynamic":
        if wire:  # [type JSON, value]
            inner = json.loads(raw[0])
            return Dynamic(inner, _from_raw(raw[1], inner, wire))
        return Dynamic(raw["type"], _from_raw(raw["value"], raw["type"], wire))
    if isinstance(ty, str):
        if ty == "number" and isinstance(raw, str):
            return float(raw) if "." in raw else int(raw)
        return raw
    kind = ty[0]
    if kind in ("list", "set"):
        return [_from_raw(e, ty[1], wire) for e in raw]
    if kind == "map":
        return {k: _from_raw(v, ty[1], wire) for k, v in raw.items()}
    if kind == "tuple":
        return [_from_raw(e, t, wire) for e, t in zip(raw, ty[1], strict=False)]
    if kind == "object":
        return {k: _from_raw(raw.get(k), t, wire) for k, t in ty[1].items()}
    raise ValueError(f"unknown type {ty!r}")


class Dynamic:
    """A value of a ``dynamic`` attribute, with its concrete type."""

    def __init__(self, ty: Any, value: Any) -> None:
        self.ty, self.value = ty, value


def _infer(value: Any) -> Any:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return ["tuple", [_infer(v) for v in value]]
    if isinstance(value, dict):
        return ["object", {k: _infer(v) for k, v in value.items()}]
    return "dynamic"


def _to_wire(value: Any, ty: Any) -> Any:
    if value is UNKNOWN:
        return _UNKNOWN_WIRE
    if value is None:
        return None
    if ty == "dynamic":
        if not isinstance(value, Dynamic):
            value = Dynamic(_infer(value), value)
        return [json.dumps(value.ty).encode(), _to_wire(value.value, value.ty)]
    if isinstance(ty, str):
        if ty == "number" and isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    kind = ty[0]
    if kind in ("list", "set"):
        return [_to_wire(e, ty[1]) for e in value]
    if kind == "map":
        return {k: _to_wire(v, ty[1]) for k, v in value.items()}
    if kind == "tuple":
        return [_to_wire(e, t) for e, t in zip(value, ty[1], strict=False)]
    if kind == "object":
        return {k: _to_wire(value.get(k), t) for k, t in ty[1].items()}
    raise ValueError(f"unknown type {ty!r}")


# ------------------------------------------------------------------------ walks


def known(value: Any) -> bool:
    """True when nothing inside ``value`` is unknown."""
    if value is UNKNOWN:
        return False
    if isinstance(value, dict):
        return all(known(v) for v in value.values())
    if isinstance(value, list):
        return all(known(v) for v in value)
    if isinstance(value, Dynamic):
        return known(value.value)
    return True


def null_write_only(block: dict[str, Any], value: Any) -> Any:
    """Write-only attributes never reach a plan or a state: null them, at every depth."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, attr in block.get("attributes", {}).items():
        if attr.get("write_only"):
            out[name] = None
    for name, nb in block.get("block_types", {}).items():
        out[name] = _each_nested(nb, out.get(name), lambda b, v: null_write_only(b, v))
    return out


def _each_nested(nb: dict[str, Any], value: Any, fn: Any) -> Any:
    if value is None or value is UNKNOWN:
        return value
    mode = nb["nesting_mode"]
    if mode in ("single", "group"):
        return fn(nb["block"], value)
    if mode == "map":
        return {k: fn(nb["block"], v) for k, v in value.items()}
    return [fn(nb["block"], v) for v in value]


def mark_computed_unknown(block: dict[str, Any], value: Any, fill: Any) -> Any:
    """For a new object: every computed attribute left null becomes ``fill(name, attr)``
    (normally UNKNOWN), in nested blocks too."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, attr in block.get("attributes", {}).items():
        if attr.get("computed") and out.get(name) is None and not attr.get("write_only"):
            out[name] = fill(name, attr)
    for name, nb in block.get("block_types", {}).items():
        out[name] = _each_nested(
            nb, out.get(name), lambda b, v: mark_computed_unknown(b, v, lambda n, a: UNKNOWN)
        )
    return out


def fill_unknowns(value: Any, ty: Any, make: Any, name: str = "") -> Any:
    """Replace every unknown with ``make(name, type)``: what an apply returns."""
    if value is UNKNOWN:
        return make(name, ty)
    if value is None or isinstance(ty, str):
        return value
    kind = ty[0]
    if kind in ("list", "set"):
        return [fill_unknowns(v, ty[1], make, name) for v in value]
    if kind == "map":
        return {k: fill_unknowns(v, ty[1], make, name) for k, v in value.items()}
    if kind == "tuple":
        return [fill_unknowns(v, t, make, name) for v, t in zip(value, ty[1], strict=False)]
    return {k: fill_unknowns(value.get(k), t, make, k) for k, t in ty[1].items()}
