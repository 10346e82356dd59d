"""The backbone registry: one name -> one factory, created only through :func:`create_model`.

A factory registers itself with :func:`register_model`; its :class:`ModelSpec` records what tests and
tools need to know without building the network (family, default embedding size, input contract, and
the published parameter count with its source where one exists). Registration is the only thing that
happens at import time.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import paddle

logger = logging.getLogger(__name__)

Factory = TypeVar("Factory", bound=Callable[..., Any])

# Every registered backbone takes aligned faces as NCHW float32 in [-1, 1] of this (C, H, W) shape.
INPUT_SHAPE: tuple[int, int, int] = (3, 112, 112)


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model without building it.

    published_params: learnable parameters (BN running statistics excluded) at the default
    ``embedding_size``, as published by ``params_source``; ``None`` when no figure is published.
    """

    name: str
    family: str
    embedding_size: int
    aliases: tuple[str, ...] = ()
    input_shape: tuple[int, int, int] = INPUT_SHAPE
    published_params: int | None = None
    params_source: str | None = None


_FACTORIES: dict[str, Callable[..., Any]] = {}
_SPECS: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}  # alias -> canonical name


def register_model(
    fn: Factory | None = None,
    *,
    name: str | None = None,
    family: str | None = None,
    aliases: tuple[str, ...] = (),
    published_params: int | None = None,
    params_source: str | None = None,
) -> Any:
    """Register a model factory, bare (``@register_model``) or with metadata (``@register_model(...)``).

    The name defaults to the function's name and the family to its module's last component. The
    default embedding size is read from the factory's ``embedding_size`` keyword, so it is stated once.
    A name or alias that is already taken raises ``ValueError``.
    """

    def decorate(factory: Factory) -> Factory:
        spec = ModelSpec(
            name=name or factory.__name__,
            family=family or factory.__module__.rsplit(".", 1)[-1],
            embedding_size=_default_embedding_size(factory),
            aliases=tuple(aliases),
            published_params=published_params,
            params_source=params_source,
        )
        _add(spec, factory)
        return factory

    return decorate(fn) if fn is not None else decorate


def _default_embedding_size(factory: Callable[..., Any]) -> int:
    param = inspect.signature(factory).parameters.get("embedding_size")
    if param is None or not isinstance(param.default, int):
        raise TypeError(f"model factory {factory.__qualname__} needs an `embedding_size: int = ...` keyword")
    return param.default


def _add(spec: ModelSpec, factory: Callable[..., Any]) -> None:
    for key in (spec.name, *spec.aliases):
        if key in _SPECS or key in _ALIASES:
            raise ValueError(f"model name {key!r} is already registered (to {_canonical(key)!r})")
    _FACTORIES[spec.name] = factory
    _SPECS[spec.name] = spec
    _ALIASES.update(dict.fromkeys(spec.aliases, spec.name))


def _canonical(name: str) -> str:
    return _ALIASES.get(name, name)


def _resolve(name: str) -> str:
    canonical = _canonical(name)
    if canonical not in _SPECS:
        known = ", ".join(list_models())
        raise ValueError(f"unknown model {name!r}; known models: {known} (aliases: {', '.join(sorted(_ALIASES))})")
    return canonical


def create_model(name: str, **kwargs: Any) -> paddle.nn.Layer:
    """Build the registered model ``name`` (a canonical name or an alias), passing ``kwargs`` to its factory.

    Unknown names raise ``ValueError`` listing the known ones; keywords the factory does not take
    raise ``TypeError``.
    """
    canonical = _resolve(name)
    logger.debug("creating model %s (%s) with %s", canonical, name, kwargs)
    return _FACTORIES[canonical](**kwargs)


def list_models() -> list[str]:
    """The canonical names of all registered models, sorted (aliases are not listed)."""
    return sorted(_SPECS)


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model name or alias."""
    return _canonical(name) in _SPECS


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name`` (a canonical name or an alias)."""
    return _SPECS[_resolve(name)]


def check_input(x: paddle.Tensor, model: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a batch of :data:`INPUT_SHAPE` faces, i.e. (N, 3, 112, 112).

    Dynamic dimensions (-1, as in a static-graph export) are accepted for the batch only.
    """
    shape = tuple(x.shape)
    if len(shape) != 4 or shape[1:] != INPUT_SHAPE:
        raise ValueError(f"{model}: expected input of shape (N, {', '.join(map(str, INPUT_SHAPE))}), got {shape}")
