"""Field selection for wide list tools (issue 10 item 3; docs/answers.md): one convention, the
``detail`` argument the instance tools already have: ``brief`` (the default) returns lean rows, the
fields an operator scans plus the "why" facts (fault, status_reason, attachments, ...), ``full`` every
field. The budget applies to either (a ``full`` page past it is cut with ``next_offset``).

A list tool opts in with :func:`lean` naming its brief fields; it declares ``detail: Detail = "brief"``
and passes nothing on (its service builds the full rows; the selection happens here, on the dumped
page, so it costs no SQL and no per-tool code)::

    @lean("id", "name", "status", "status_reason", "project_name")
    async def get_stacks(ctx: Context[AppContext], ..., detail: Detail = "brief") -> StackList: ...

:func:`lean` also appends the two field lists to the tool's description, and publishes the rows'
schema with the non-brief fields optional (absent from brief rows), so the output schema stays true.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from app.services.instances import check_detail
from app.tools.base import utc_aware

Detail = Annotated[Literal["brief", "full"], Field(
    description="brief (default): lean rows, the fields listed in the tool description, including why a row "
                "is in trouble; full: every field (rows several times bigger; the answer budget still applies, "
                "past it the page is cut with next_offset).")]
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _rows_field(model: type[BaseModel], brief: frozenset[str]) -> tuple[str, type[BaseModel]]:
    """The list-of-rows field of a page model whose row model has every ``brief`` field."""
    for name, f in model.model_fields.items():
        args = typing.get_args(f.annotation)
        if typing.get_origin(f.annotation) is list and args and isinstance(args[0], type) \
                and issubclass(args[0], BaseModel) and brief <= set(args[0].model_fields):
            return name, args[0]
    raise TypeError(f"{model.__name__} has no list of rows with the fields {sorted(brief)}")


@functools.cache
def lean_page_model(model: type[BaseModel], brief: frozenset[str]) -> type[BaseModel]:
    """``model`` with its rows' non-brief fields optional (what a brief page truthfully carries)."""
    items, row = _rows_field(model, brief)
    optional: dict[str, Any] = {}
    for name, f in row.model_fields.items():
        if name in brief:
            continue
        desc = f"{f.description or name} Only with detail='full'."
        if f.is_required():
            optional[name] = (f.annotation | None, Field(default=None, description=desc))  # type: ignore[operator]
        elif f.default_factory is not None:
            optional[name] = (f.annotation, Field(default_factory=f.default_factory, description=desc))
        else:
            optional[name] = (f.annotation, Field(default=f.default, description=desc))
    lean_row = create_model(row.__name__, __base__=row, __doc__=row.__doc__, **optional)  # type: ignore[call-overload]
    desc = model.model_fields[items].description
    return create_model(model.__name__, __base__=model, __doc__=model.__doc__,  # type: ignore[call-overload]
                        **{items: (list[lean_row], Field(description=desc))})  # type: ignore[valid-type]


def select(page: BaseModel, brief: frozenset[str]) -> dict[str, Any]:
    """``page`` dumped with each row cut to its ``brief`` fields."""
    items, _ = _rows_field(type(page), brief)
    data = utc_aware(page).model_dump(mode="json")
    data[items] = [{k: v for k, v in row.items() if k in brief} for row in data[items]]
    return data


def lean(*brief_fields: str) -> Callable[[F], F]:
    """Make a list tool's ``detail`` argument select its rows' fields (see the module doc)."""
    brief = frozenset(brief_fields)

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        if "detail" not in sig.parameters:
            raise TypeError(f"{fn.__name__} needs a `detail: Detail` parameter to be lean")
        default = sig.parameters["detail"].default
        page_model = sig.return_annotation
        _, row = _rows_field(page_model, brief)
        full_only = [n for n in row.model_fields if n not in brief]

        @functools.wraps(fn)
        async def tool(*args: Any, **kwargs: Any) -> Any:
            full = check_detail(kwargs.get("detail", default))  # the instance tools' check: one message
            result = await fn(*args, **kwargs)
            return select(result, brief) if not full and isinstance(result, BaseModel) else result

        tool.__signature__ = sig.replace(return_annotation=lean_page_model(page_model, brief))  # type: ignore[attr-defined]
        tool.__doc__ = (inspect.cleandoc(fn.__doc__ or "") +
                        f"\n\nRows: detail='brief' (default) gives {', '.join(n for n in row.model_fields if n in brief)}; "
                        f"detail='full' adds {', '.join(full_only)}.")
        return tool  # type: ignore[return-value]

    return wrap
