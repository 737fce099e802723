"""Naming a backend to build: registered name, options and the label it gets in reports.

An evaluation can run one backend twice with different options (``gan`` pasting back and
``gan`` drawing the whole image), so every backend in an evaluation carries a *label*, unique
within its kind, that names its rows in the table and report.

Accepted forms (:meth:`BackendSpec.parse`):

- ``"telea"``: a registered name, no options, label ``telea``;
- ``"gan:compositing=raw"``: options after a colon, comma separated, values read as JSON
  when they parse (``3``, ``true``, ``"x"``) and as text otherwise; label ``gan`` when no
  other entry of the list uses ``gan``, else ``gan[compositing=raw]``;
- ``"gan-raw=gan:compositing=raw"``: an explicit label before ``=``;
- a mapping ``{"name": "gan", "options": {...}, "label": "gan-raw"}`` (configuration files);
- an already built backend object (anything with a ``name``), used as it is, with the
  capabilities registered under its name (or the safe defaults);
- a :class:`~radinpaint.registry.Built` (a backend with the capabilities it declares), for
  an object built outside the registry: ``Built(load_ensemble(path),
  capabilities=ensemble.capabilities())``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidInputError
from ..registry import get_backend

if TYPE_CHECKING:
    from ..capabilities import Capabilities
    from ..registry import Built

__all__ = ["BackendSpec", "parse_specs"]

_LABEL = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)=([A-Za-z0-9_.\-]+)(:.*)?$")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _options(value: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return dict(value)


@attrs.frozen
class BackendSpec:
    """A backend of one kind to build (or already built), and its label.

    Attributes:
        name: the registered name (or the instance's ``name``).
        options: keyword options for the backend's factory.
        label: the name its rows carry; defaults to ``name`` plus the options.
        instance: a ready backend object; when set, ``options`` are informational only.
        capabilities: what ``instance`` declares (default: its registration's declaration).
    """

    name: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_options)
    label: str = attrs.field(default="")
    instance: Any = attrs.field(default=None, eq=False, repr=False)
    capabilities: Capabilities | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.label:
            from ..scrub import scrub_options

            # a label is written everywhere (table, report): never from a secret
            object.__setattr__(
                self, "label", _derived_label(self.name, scrub_options(self.options))
            )

    @classmethod
    def parse(cls, value: Any) -> BackendSpec:
        """Build a spec from any accepted form (see the module docs)."""
        if isinstance(value, BackendSpec):
            return value
        from ..registry import Built

        if isinstance(value, Built):
            return cls(str(value.backend.name), {}, "", value.backend, value.capabilities)
        if isinstance(value, str):
            text = value.strip()
            label = ""
            m = _LABEL.match(text)
            if m and "=" not in m.group(2):
                label, text = m.group(1), m.group(2) + (m.group(3) or "")
            name, _, rest = text.partition(":")
            options: dict[str, Any] = {}
            for part in filter(None, (p.strip() for p in rest.split(","))):
                key, eq, val = part.partition("=")
                if not eq or not key:
                    raise InvalidInputError(
                        f"cannot read option {part!r} in backend spec {value!r}",
                        fix="write options as NAME:KEY=VALUE,KEY=VALUE (e.g. gan:compositing=raw)",
                    )
                options[key.strip()] = _value(val.strip())
            if not name:
                raise InvalidInputError(f"empty backend name in {value!r}")
            return cls(name.strip(), options, label)
        if isinstance(value, Mapping):
            unknown = set(value) - {"name", "options", "label"}
            if "name" not in value or unknown:
                raise InvalidInputError(
                    f"a backend entry needs 'name' (and optionally 'options', 'label'); "
                    f"got keys {sorted(value)}",
                    fix='write {"name": "gan", "options": {"compositing": "raw"}}',
                )
            return cls(str(value["name"]), dict(value.get("options") or {}), value.get("label", ""))
        own_name = getattr(value, "name", None)
        if isinstance(own_name, str):
            return cls(own_name, {}, "", value)
        raise InvalidInputError(
            f"cannot use {value!r} as a backend",
            fix="give a registered name, a {'name': ..., 'options': ...} mapping or a backend",
        )

    def build(self, kind: str) -> Any:
        """The backend object: the instance, or ``get_backend(kind, name, **options)``."""
        if self.instance is not None:
            return self.instance
        return get_backend(kind, self.name, **dict(self.options))

    def build_declared(self, kind: str) -> Built:
        """The backend with the capabilities it declared at registration.

        A ready instance gets the declaration registered under its ``name`` (or the safe
        defaults when no such backend is registered).
        """
        from ..registry import Built, build_backend, capabilities_of

        if self.instance is not None:
            caps = self.capabilities or capabilities_of(kind, self.instance)
            return Built(self.instance, caps, None)
        return build_backend(kind, self.name, **dict(self.options))

    def to_dict(self, secret_names: Iterable[str] = ()) -> dict[str, Any]:
        """JSON-ready form (secrets and URL credentials scrubbed from the options)."""
        from ..scrub import scrub_options

        options = scrub_options(self.options, secret_names)
        label = self.label
        if label == _derived_label(self.name, scrub_options(self.options)):
            label = _derived_label(self.name, options)  # no declared secret in a label either
        return {"name": self.name, "label": label, "options": options}


def _derived_label(name: str, options: Mapping[str, Any]) -> str:
    """``name[key=value,...]``, or the bare name without options."""
    opts = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"{name}[{opts}]" if opts else name


def parse_specs(values: Any, what: str) -> list[BackendSpec]:
    """Parse a list of specs and check their labels are unique."""
    if values is None:
        return []
    if isinstance(values, (str, Mapping, BackendSpec)) or hasattr(values, "name"):
        values = [values]
    specs = [BackendSpec.parse(v) for v in values]
    # A derived label such as "gan[weights=/long/path]" shortens to the bare name when no
    # other entry uses that name (as its backend or its label).
    names = [s.name for s in specs]
    labels = {s.label for s in specs}
    for i, spec in enumerate(specs):
        derived = spec.label.startswith(f"{spec.name}[")
        if derived and names.count(spec.name) == 1 and spec.name not in labels:
            specs[i] = attrs.evolve(spec, label=spec.name)
    seen: set[str] = set()
    for spec in specs:
        if spec.label in seen:
            raise InvalidInputError(
                f"two {what} share the label {spec.label!r}",
                fix="give each a distinct label (LABEL=NAME:OPTIONS, or 'label' in a config)",
            )
        seen.add(spec.label)
    return specs
