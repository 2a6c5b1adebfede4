"""Python 3.10 compatibility for the edge agent (NVIDIA JetPack 6 / Ubuntu 22.04 ship Python 3.10).

On Python 3.11+ every name here *is* the standard-library object, so nothing changes there; on
3.10 it is an equivalent with the same observable behaviour:

* :class:`StrEnum` - ``enum.StrEnum``; on 3.10 a ``str`` + ``Enum`` whose ``str()`` and
  ``format()`` give the value (a plain ``(str, Enum)`` would print ``Capability.MOTION``) and whose
  ``auto()`` is the lower-case member name.
* :data:`Self` - ``typing.Self``; on 3.10 ``typing_extensions.Self`` when installed, else a
  ``TypeVar``. Modules using it have ``from __future__ import annotations``, so it is never
  evaluated at run time.
* :data:`UTC` - ``datetime.UTC`` (an alias of ``datetime.timezone.utc``).
* :func:`toml_loads` / :class:`TOMLDecodeError` - ``tomllib``, else ``tomli`` when installed, else a
  :class:`~edge_agent.errors.ConfigError` saying how to get TOML support (JSON always works).
* :func:`ws_connect` - ``websockets.sync.client.connect``; websockets 17 (Python >= 3.11 only) wants
  ``legacy=True`` to return a connection directly, websockets 16 (the last release for 3.10) has
  only that behaviour and no ``legacy`` parameter.

Imports nothing outside the standard library at module level.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import platform
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any

from edge_agent.errors import ConfigError

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

__all__ = ["UTC", "PY311", "Self", "StrEnum", "TOMLDecodeError", "toml_loads", "ws_connect"]

PY311 = sys.version_info >= (3, 11)

UTC = _dt.timezone.utc

if sys.version_info >= (3, 11):
    from enum import StrEnum
    from typing import Self
else:

    class StrEnum(str, Enum):
        """``enum.StrEnum`` for Python 3.10: members are strings and print as their value."""

        def __new__(cls, value: str) -> StrEnum:
            if not isinstance(value, str):
                raise TypeError(f"{value!r} is not a string")
            member = str.__new__(cls, value)
            member._value_ = value
            return member

        def __str__(self) -> str:
            return str.__str__(self)

        def __format__(self, format_spec: str) -> str:
            return str.__format__(self, format_spec)

        @staticmethod
        def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
            return name.lower()

    try:
        from typing_extensions import Self
    except ImportError:  # annotations are strings (PEP 563); this name only has to exist
        from typing import TypeVar

        Self = TypeVar("Self")  # type: ignore[misc]


try:
    import tomllib as _toml
except ModuleNotFoundError:  # Python 3.10
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ModuleNotFoundError:
        _toml = None  # type: ignore[assignment]

if _toml is not None:
    TOMLDecodeError: type[ValueError] = _toml.TOMLDecodeError
else:

    class TOMLDecodeError(ValueError):  # type: ignore[no-redef]
        """Never raised: without a TOML parser :func:`toml_loads` raises ConfigError instead."""


def toml_loads(text: str, *, source: str = "<toml>") -> dict[str, Any]:
    """``tomllib.loads``; without a TOML parser (Python 3.10 without tomli) a ConfigError naming ``source``."""
    if _toml is None:
        raise ConfigError(
            f"{source} is TOML, which needs Python >= 3.11 or the tomli package (this is Python "
            f"{platform.python_version()}): run `pip install tomli` in the agent's venv, or use a .json config"
        )
    return _toml.loads(text)


@functools.cache
def _connect_takes_legacy() -> bool:
    from websockets.sync.client import connect

    return "legacy" in inspect.signature(connect).parameters


def ws_connect(uri: str, **kwargs: Any) -> ClientConnection:
    """``websockets.sync.client.connect`` on websockets 16 and 17 (``legacy=True`` is 16's only behaviour)."""
    from websockets.sync.client import connect

    if not _connect_takes_legacy() and kwargs.get("legacy") is not False:
        kwargs.pop("legacy", None)
    return connect(uri, **kwargs)
