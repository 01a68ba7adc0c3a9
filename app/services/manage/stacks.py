"""manage_stack: Heat stack create (template inline or from a file under ``settings.stack_template_dirs``),
update (needs confirmation; PATCH semantics: omitted template/parameters keep their current values) and
delete (needs confirmation). Templates are parsed and checked locally first (YAML/JSON, a template
version, a ``resources`` map with types, declared parameters) so a bad one is refused with a clear
message before anything is sent; Heat's own validation errors come back as rejections. ``get_file``
and nested templates from local files are not supported (no ``files`` map is sent)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from app.errors import InvalidArgument
from app.services.manage import _raw
from app.services.operations import Action, Call, ManagedTool, Target
from app.services.operations.paths import check_allowed_file, open_allowed

if TYPE_CHECKING:
    from app.context import AppContext

MAX_TEMPLATE_BYTES = 512 * 1024     # Heat's default max_template_size


class _HeatLoader(yaml.SafeLoader):
    """Like Heat's loader: dates stay strings (heat_template_version: 2018-08-31)."""


_HeatLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def parse_template(text: str) -> dict[str, Any]:
    """The template as a mapping, or InvalidArgument saying what is wrong with it."""
    if len(text.encode()) > MAX_TEMPLATE_BYTES:
        raise InvalidArgument(f"The template is larger than {MAX_TEMPLATE_BYTES} bytes (Heat's default limit).")
    try:
        tpl = json.loads(text) if text.lstrip()[:1] == "{" else yaml.load(text, Loader=_HeatLoader)  # noqa: S506
    except json.JSONDecodeError as e:
        raise InvalidArgument(f"The template is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise InvalidArgument(f"The template is not valid YAML: {getattr(e, 'problem', None) or e}{where}.") from None
    if not isinstance(tpl, dict):
        raise InvalidArgument("The template must be a YAML mapping or JSON object (heat_template_version, "
                              "parameters, resources, outputs).")
    if "heat_template_version" not in tpl and "AWSTemplateFormatVersion" not in tpl:
        raise InvalidArgument("The template has no heat_template_version (e.g. 'heat_template_version: 2018-08-31').")
    resources = tpl.get("resources", tpl.get("Resources"))
    if resources is not None and not isinstance(resources, dict):
        raise InvalidArgument("The template's 'resources' must be a mapping of name -> {type: ..., properties: ...}.")
    for name, res in (resources or {}).items():
        if not isinstance(res, dict) or not (res.get("type") or res.get("Type")):
            raise InvalidArgument(f"Resource '{name}' of the template has no 'type'.")
    params = tpl.get("parameters", tpl.get("Parameters"))
    if params is not None and not isinstance(params, dict):
        raise InvalidArgument("The template's 'parameters' must be a mapping.")
    return tpl


def parse_parameters(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise InvalidArgument(f"parameters must be a JSON object (got invalid JSON: {e.msg}).") from None
    if not isinstance(value, Mapping):
        raise InvalidArgument("parameters must be a JSON object of parameter name -> value.")
    return dict(value)


def _check_parameters(tpl: Mapping[str, Any], params: Mapping[str, Any], *, require_all: bool) -> None:
    declared = tpl.get("parameters", tpl.get("Parameters")) or {}
    unknown = sorted(k for k in params if k not in declared)
    if unknown:
        raise InvalidArgument(f"Parameter(s) {', '.join(unknown)} are not declared in the template (declared: "
                              f"{', '.join(sorted(declared)) or 'none'}).")
    if require_all:
        missing = sorted(k for k, spec in declared.items()
                         if isinstance(spec, dict) and "default" not in spec and "Default" not in spec and k not in params)
        if missing:
            raise InvalidArgument(f"The template needs value(s) for parameter(s) {', '.join(missing)} (no default).")


def _read_template_file(path: str, dirs: list[str]) -> str:
    f = check_allowed_file(path, dirs, setting="OPS_STACK_TEMPLATE_DIRS", max_bytes=MAX_TEMPLATE_BYTES,
                           what="template file")
    with open_allowed(f) as fh:
        data = fh.read(MAX_TEMPLATE_BYTES + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"The template file '{path}' is not UTF-8 text.") from None


async def _load(app: AppContext, a: Mapping[str, Any], *, required: bool) -> str | None:
    inline, path = a.get("template") or None, a.get("template_path") or None
    if inline and path:
        raise InvalidArgument("Give the template either inline (template) or as a file (template_path), not both.")
    if path:
        return await asyncio.to_thread(_read_template_file, path, list(app.settings.stack_template_dirs))
    if not inline and required:
        raise InvalidArgument("Action 'create' of manage_stack needs a template: inline YAML/JSON in template, or a "
                              "file under an allowed directory in template_path.")
    return inline


async def _prepare(app: AppContext, _t: Target | None, a: Mapping[str, Any], *, create: bool) -> dict[str, Any]:
    text = await _load(app, a, required=create)
    params = parse_parameters(a.get("parameters"))
    out: dict[str, Any] = {"parameters": params}
    if text is not None:
        tpl = parse_template(text)
        _check_parameters(tpl, params, require_all=create)
        out.update(template=text, resource_count=len(tpl.get("resources", tpl.get("Resources")) or {}))
    elif not params and a.get("timeout_mins") is None:
        raise InvalidArgument("Action 'update' needs something to change: template, template_path, parameters or "
                              "timeout_mins.")
    if a.get("timeout_mins") is not None and (not isinstance(a["timeout_mins"], int) or a["timeout_mins"] < 1):
        raise InvalidArgument(f"timeout_mins must be a whole number >= 1 (got {a['timeout_mins']!r}).")
    return out


async def _prepare_create(app: AppContext, t: Target | None, a: Mapping[str, Any]) -> dict[str, Any]:
    return await _prepare(app, t, a, create=True)


async def _prepare_update(app: AppContext, t: Target | None, a: Mapping[str, Any]) -> dict[str, Any]:
    return await _prepare(app, t, a, create=False)


def _body(a: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"parameters": a.get("parameters") or {}}
    if a.get("template"):
        body["template"] = a["template"]
    if a.get("timeout_mins") is not None:
        body["timeout_mins"] = a["timeout_mins"]
    return body


def _create(c: Call) -> Any:
    body = {"stack_name": c.args["stack_name"], "disable_rollback": not c.args.get("rollback"), **_body(c.args)}
    return (_raw.request(c.conn.orchestration, "POST", "/stacks", json=body) or {}).get("stack") or {}


def _update(c: Call) -> Any:
    t = c.target
    assert t is not None
    return _raw.request(c.conn.orchestration, "PATCH", f"/stacks/{t.name}/{t.id}", json=_body(c.args))


def _delete(c: Call) -> Any:
    t = c.target
    assert t is not None
    return _raw.request(c.conn.orchestration, "DELETE", f"/stacks/{t.name}/{t.id}")


def _stack_state(t: Target | None) -> str:
    assert t is not None
    return f"status {t.status}, project {t.row.get('project_id') or '-'}"


def _describe_update(t: Target | None, a: Mapping[str, Any]) -> str:
    what = []
    if a.get("template"):
        what.append(f"replace its template (new one has {a.get('resource_count')} resources)")
    if a.get("parameters"):
        what.append(f"set parameter(s) {', '.join(sorted(a['parameters']))}")
    if a.get("timeout_mins") is not None:
        what.append(f"timeout {a['timeout_mins']} min")
    return (f"Update stack {t.label() if t else '?'} ({_stack_state(t)}): {', '.join(what)}; other parameters keep "
            "their values. Heat may replace or delete resources whose definition changes or disappears.")


ACTIONS = {
    "create": Action(
        name="create", kind="stacks", target=None, creates=True, requires=("stack_name",), prepare=_prepare_create,
        call=_create,
        describe=lambda _t, a: (f"Create stack '{a.get('stack_name')}' with {a.get('resource_count')} resources"
                                f"{' and parameters ' + ', '.join(sorted(a['parameters'])) if a.get('parameters') else ''}."),
        goal={"status": ("CREATE_COMPLETE",)}),
    "update": Action(
        name="update", kind="stacks", confirm=True, prepare=_prepare_update, call=_update, describe=_describe_update,
        goal={"status": ("UPDATE_COMPLETE",)}),
    "delete": Action(
        # done when the row is tombstoned: Heat's GET by id keeps answering a deleted stack as DELETE_COMPLETE,
        # which the stacks spec's ``gone`` predicate turns into a tombstone (Heat's listing omits it).
        name="delete", kind="stacks", confirm=True, gone=True, call=_delete,
        describe=lambda t, _a: (f"Delete stack {t.label() if t else '?'} ({_stack_state(t)}) and every resource it "
                                "created (servers, volumes, networks ...); this cannot be undone.")),
}

MANAGE_STACK = ManagedTool(name="manage_stack", what="stack", target_param="stack_name", actions=ACTIONS,
                           read_actions=("list",))
