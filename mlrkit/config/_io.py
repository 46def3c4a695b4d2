"""The config as JSON: plain dicts, files, and ``key=value`` overrides.

Public names are re-exported by :mod:`mlrkit.config`; import them from there.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from mlrkit.config._schema import Config, validate
from mlrkit.errors import ConfigError
from mlrkit.files import write_text


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """A JSON-ready plain dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


_SCALARS: dict[Any, tuple] = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert a JSON value to the dataclass field type ``hint`` (tuples, unions, dataclasses)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_coerce(v, item, where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    # bool is an int subclass: only a JSON true/false is a bool, and never an int or float.
    if hint in _SCALARS and isinstance(value, _SCALARS[hint]):
        if hint is bool or not isinstance(value, bool):
            return float(value) if hint is float else value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a :class:`Config` from :func:`config_to_dict` output (missing keys get defaults)."""
    return validate(_from_dict(Config, data, ""))


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write ``cfg`` as indented JSON to ``path``, atomically (a crash leaves the old file or
    the new one, never half of one)."""
    return write_text(path, json.dumps(config_to_dict(cfg), indent=2) + "\n")


def load_config(path: str | Path) -> Config:
    """Read a config written by :func:`save_config` (e.g. ``runs/x/config.json``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read config {path}: {err}") from err
    return config_from_dict(data)


def apply_overrides(cfg: Config, overrides: typing.Iterable[str]) -> Config:
    """Apply ``section.field=value`` strings (values parsed as JSON, else strings).

    Example: ``["optim.lr=3e-4", "model.embed_dim=null", "data.policy={\\"year\\": \\"2012\\"}"]``.

    Dict fields (``data.policy``, ``model.head_kwargs``, ``loss.objective_kwargs``) are merged
    into the current dict, so an override keeps the preset's other keys (``voc07``'s
    ``reduction: mean`` survives ``loss.objective_kwargs={"disc_weight": 0.5}``). A key set to
    ``null`` is removed (``{"reduction": null}`` goes back to the default); ``{}`` changes nothing.

    Returns a new validated config; ``cfg`` is not modified.
    """
    data = config_to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        section, name = parts
        if section not in data or not isinstance(data[section], dict):
            raise ConfigError(f"override {item!r}: unknown section {section!r}")
        if name not in data[section]:
            raise ConfigError(
                f"override {item!r}: unknown field {name!r}; {section} has {sorted(data[section])}"
            )
        hint = typing.get_type_hints(type(getattr(cfg, section)))[name]
        text = raw.strip()
        # String fields take the text verbatim (so data.root=2007 stays "2007"), except null
        # and a quoted JSON string (model.backbone="resnet18" is resnet18).
        if hint is str or (hint == str | None and text != "null"):
            quoted = len(text) >= 2 and text[0] == text[-1] == '"'
            data[section][name] = json.loads(text) if quoted else text
            continue
        try:  # JSON: numbers, true/false/null, lists, objects; anything else stays a string
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if typing.get_origin(hint) is dict:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"override {item!r}: {section}.{name} takes a JSON object, e.g. "
                    f"{section}.{name}='{{\"key\": 1}}'"
                )
            merged = {**data[section][name], **value}
            value = {k: v for k, v in merged.items() if v is not None}
        data[section][name] = value
    return config_from_dict(data)
