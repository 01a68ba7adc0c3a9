"""Heat v1 simulator: stacks (list with ``global_tenant``, show by id or name with Heat's 302 redirect,
create from an inline template, update, delete) and stack resources, with timed status transitions.

State kind ``stacks``; each stack keeps its parsed template in ``_template`` (shared between the
fleet's stacks) and its resources in ``_resources`` ({name: {type, physical id, created}})."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.simulator.core import ServiceDef, SimHTTPError, Simulator, iso, json_body, new_id, read_json

VERSIONS = {"2013-05-23", "2014-10-16", "2015-04-30", "2015-10-15", "2016-04-08", "2016-10-14", "2017-02-24",
            "2017-09-01", "2018-03-02", "2018-08-31", "2021-04-16", "newton", "ocata", "pike", "queens", "rocky",
            "wallaby"}
NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$")
LIST_FIELDS = ("creation_time", "deletion_time", "description", "id", "parent", "stack_name", "stack_owner",
               "stack_status", "stack_status_reason", "stack_user_project_id", "tags", "updated_time")


def parse_template(raw: Any, params: dict[str, Any] | None) -> dict[str, Any]:
    """Parse and validate a template the way Heat rejects bad ones (400 on any problem)."""
    if raw is None:
        raise SimHTTPError(400, "Need more arguments: no template or template_url was provided.")
    if isinstance(raw, str):
        try:
            tpl = yaml.safe_load(raw) if raw.strip()[:1] != "{" else json.loads(raw)
        except (yaml.YAMLError, json.JSONDecodeError) as e:
            raise SimHTTPError(400, f"Error parsing template: {e}") from e
    else:
        tpl = raw
    if not isinstance(tpl, dict):
        raise SimHTTPError(400, "The template is not a JSON object or YAML mapping.")
    ver = tpl.get("heat_template_version")
    if ver is None and "AWSTemplateFormatVersion" not in tpl:
        raise SimHTTPError(400, 'Template format version not found.')
    if ver is not None and str(ver) not in VERSIONS:
        raise SimHTTPError(400, f'"heat_template_version: {ver}". "heat_template_version" should be one of: '
                                f"{', '.join(sorted(VERSIONS))}")
    resources = tpl.get("resources", tpl.get("Resources")) or {}
    if not isinstance(resources, dict):
        raise SimHTTPError(400, '"resources" must be a map')
    for name, res in resources.items():
        if not isinstance(res, dict) or not res.get("type", res.get("Type")):
            raise SimHTTPError(400, f'"{name}" must contain a "type" key')
        rtype = str(res.get("type", res.get("Type")))
        if not rtype.startswith(("OS::", "AWS::")) and not rtype.endswith((".yaml", ".template")):
            raise SimHTTPError(400, f"The Resource Type ({rtype}) could not be found.")
    declared = tpl.get("parameters") or {}
    for k in (params or {}):
        if k not in declared:
            raise SimHTTPError(400, f"The Parameter ({k}) was not defined in template.")
    for k, spec in declared.items():
        if isinstance(spec, dict) and "default" not in spec and k not in (params or {}):
            raise SimHTTPError(400, f"The Parameter ({k}) was not provided.")
    return tpl


def _resources_of(tpl: dict[str, Any]) -> dict[str, str]:
    res = tpl.get("resources", tpl.get("Resources")) or {}
    return {n: str(r.get("type", r.get("Type"))) for n, r in res.items()}


def _status(s: dict[str, Any]) -> str:
    return s["stack_status"]


def routes(sim: Simulator) -> list[BaseRoute]:
    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + f"/heat-api/v1/{request.path_params['project_id']}"

    def tok(request: Request) -> Any:
        return request.scope.get("state", {}).get("token")

    def admin(request: Request) -> bool:
        t = tok(request)
        return t is None or any(r.get("name") == "admin" for r in t.roles)

    def links(request: Request, s: dict[str, Any]) -> list[dict[str, str]]:
        return [{"href": f"{base(request)}/stacks/{s['stack_name']}/{s['id']}", "rel": "self"}]

    def settle(s: dict[str, Any]) -> dict[str, Any]:
        if s.get("_pending"):
            sim.settle(s)
        return s

    def render_list(request: Request, s: dict[str, Any], with_project: bool) -> dict[str, Any]:
        out = {k: s.get(k) for k in LIST_FIELDS}
        out["links"] = links(request, s)
        if with_project:
            out["project"] = s["_project"]
        return out

    def render_full(request: Request, s: dict[str, Any], resolve_outputs: bool = True) -> dict[str, Any]:
        out = render_list(request, s, False)
        tpl = s["_template"]
        params = {"OS::project_id": s["_project"], "OS::stack_id": s["id"], "OS::stack_name": s["stack_name"]}
        for k, spec in (tpl.get("parameters") or {}).items():
            v = s["_params"].get(k, spec.get("default") if isinstance(spec, dict) else None)
            params[k] = "******" if isinstance(spec, dict) and spec.get("hidden") else str(v if v is not None else "")
        out.update(parameters=params, capabilities=[], notification_topics=[], disable_rollback=s["_disable_rollback"],
                   timeout_mins=s["_timeout"], template_description=s.get("description"))
        if resolve_outputs:
            outputs = []
            for k, o in (tpl.get("outputs") or {}).items():
                val = o.get("value") if isinstance(o, dict) else o
                if isinstance(val, dict) and val:
                    fn, arg = next(iter(val.items()))
                    ref = arg[0] if isinstance(arg, list) and arg else arg
                    val = s["_resources"].get(str(ref), {}).get("physical_resource_id") if fn in (
                        "get_resource", "get_attr") else val
                outputs.append({"output_key": k, "output_value": val,
                                "description": (o.get("description") if isinstance(o, dict) else None)
                                or "No description given"})
            out["outputs"] = outputs
        return out

    def lookup(request: Request, ref: str, stack_id: str | None = None) -> dict[str, Any]:
        pid = request.path_params["project_id"]
        s = sim.state.get("stacks", stack_id or ref)
        if s is not None:
            settle(s)
        if s is None and stack_id is None:
            s = next((settle(x) for x in list(sim.state.values("stacks"))
                      if x["stack_name"] == ref and x["_project"] == pid), None)
        if s is not None and sim.state.get("stacks", s["id"]) is None:
            s = None  # deleted while settling
        if s is None:  # like Heat: a deleted stack is still shown by id (DELETE_COMPLETE), never by name
            s = next((x for x in sim.state.deleted.get("stacks", ()) if x["id"] == (stack_id or ref)), None)
        if s is None or (s["_project"] != pid and not admin(request)) or (
                stack_id is not None and s["stack_name"] != ref and s["id"] != ref):
            raise SimHTTPError(404, f"The Stack ({stack_id or ref}) could not be found.")
        return s

    async def root(request: Request) -> Response:
        href = str(request.base_url).rstrip("/") + "/heat-api/v1/"
        return json_body({"versions": [{"id": "v1.0", "status": "CURRENT",
                                        "links": [{"href": href, "rel": "self"}]}]}, 300)

    async def list_stacks(request: Request) -> Response:
        q = request.query_params
        pid = request.path_params["project_id"]
        glob = q.get("global_tenant", "").lower() in ("true", "1") and admin(request)
        show_deleted = q.get("show_deleted", "").lower() in ("true", "1")
        items = []
        for s in list(sim.state.values("stacks")):
            settle(s)
            if not glob and s["_project"] != pid:
                continue
            items.append(s)
        items = [s for s in items if sim.state.get("stacks", s["id"]) is not None]
        if show_deleted:
            items += [s for s in sim.state.deleted.get("stacks", ()) if glob or s["_project"] == pid]
        for k, key in (("status", "stack_status"), ("name", "stack_name"), ("id", "id"), ("action", None),
                       ("tenant", "_project"), ("tenant_id", "_project"), ("project_id", "_project")):
            vals = q.getlist(k)
            if vals:
                if key is None:
                    items = [s for s in items if s["stack_status"].split("_")[0] in vals]
                else:
                    items = [s for s in items if str(s.get(key)) in vals or
                             (k == "status" and s["stack_status"].split("_", 1)[-1] in vals)]
        sort_key = {"name": "stack_name", "status": "stack_status", "created_at": "creation_time",
                    "updated_at": "updated_time"}.get(q.get("sort_keys", "created_at"), "creation_time")
        items.sort(key=lambda s: (str(s.get(sort_key) or ""), s["id"]), reverse=q.get("sort_dir", "desc") == "desc")
        start = 0
        if q.get("marker"):
            pos = next((i for i, s in enumerate(items) if s["id"] == q["marker"]), None)
            if pos is None:
                raise SimHTTPError(404, f"The Stack ({q['marker']}) could not be found.")
            start = pos + 1
        limit = int(q["limit"]) if q.get("limit") else None
        page = items[start:start + limit] if limit is not None else items[start:]
        body: dict[str, Any] = {"stacks": [render_list(request, s, glob or admin(request)) for s in page]}
        if limit is not None and page and len(page) == limit and start + limit < len(items):
            body["links"] = [{"href": str(request.url.include_query_params(marker=page[-1]["id"])), "rel": "next"}]
        return json_body(body)

    async def create_stack(request: Request) -> Response:
        body = await read_json(request)
        name = body.get("stack_name")
        if not name or not NAME_RE.match(str(name)):
            raise SimHTTPError(400, f'Invalid stack name {name} must contain only alphanumeric or "_-." characters, '
                                    "must start with alpha and must be 255 characters or less.")
        pid = request.path_params["project_id"]
        if any(s["stack_name"] == name and s["_project"] == pid for s in sim.state.values("stacks")):
            raise SimHTTPError(409, f"The Stack ({name}) already exists.")
        if body.get("template") is None and body.get("template_url"):
            raise SimHTTPError(400, f"Could not retrieve template: Failed to retrieve template: "
                                    f"{body['template_url']}")
        params = body.get("parameters") or {}
        tpl = parse_template(body.get("template"), params)
        s = new_stack(sim, pid, name, tpl, params, status="CREATE_IN_PROGRESS", reason="Stack CREATE started")
        user = sim.state.get("users", tok(request).user_id) if tok(request) else None
        s["stack_owner"] = user["name"] if user else None
        s["_disable_rollback"] = bool(body.get("disable_rollback", True))
        s["_timeout"] = body.get("timeout_mins")
        s["tags"] = body.get("tags").split(",") if isinstance(body.get("tags"), str) else body.get("tags")
        sim.schedule(s, {"stack_status": "CREATE_COMPLETE", "stack_status_reason": "Stack CREATE completed successfully",
                         "_res": lambda r: _resources_done(r, "CREATE")})
        return json_body({"stack": {"id": s["id"], "links": links(request, s)}}, 201)

    async def redirect(request: Request) -> Response:
        s = lookup(request, request.path_params["name"])
        tail = request.path_params.get("tail", "")
        url = f"{base(request)}/stacks/{s['stack_name']}/{s['id']}" + (f"/{tail}" if tail else "")
        if request.url.query:
            url += "?" + request.url.query
        return RedirectResponse(url, status_code=302)

    async def by_name_or_id(request: Request) -> Response:
        """Writes addressed to ``/stacks/{name_or_id}`` act on the looked-up stack (a redirect would turn a
        DELETE into a GET in most HTTP clients)."""
        s = lookup(request, request.path_params["name"])
        request.path_params["name"], request.path_params["stack_id"] = s["stack_name"], s["id"]
        if request.method == "DELETE":
            return await delete_stack(request)
        return await update_stack(request)

    async def show_stack(request: Request) -> Response:
        s = lookup(request, request.path_params["name"], request.path_params["stack_id"])
        resolve = request.query_params.get("resolve_outputs", "true").lower() != "false"
        return json_body({"stack": render_full(request, s, resolve)})

    async def update_stack(request: Request) -> Response:
        s = lookup(request, request.path_params["name"], request.path_params["stack_id"])
        if s["stack_status"] == "DELETE_COMPLETE":
            raise SimHTTPError(404, f"The Stack ({s['stack_name']}) could not be found.")
        if s["stack_status"].endswith("IN_PROGRESS"):
            raise SimHTTPError(409, f"Stack {s['stack_name']} already has an action "
                                    f"({s['stack_status'].split('_')[0]}) in progress.")
        body = await read_json(request)
        patch = request.method == "PATCH"
        params = {**(s["_params"] if patch else {}), **(body.get("parameters") or {})}
        raw = body.get("template")
        tpl = parse_template(raw, params) if raw is not None or not patch else s["_template"]
        s.update(_template=tpl, _params=params, stack_status="UPDATE_IN_PROGRESS",
                 stack_status_reason="Stack UPDATE started", description=tpl.get("description"))
        if "timeout_mins" in body:
            s["_timeout"] = body["timeout_mins"]
        if "tags" in body:
            s["tags"] = body["tags"].split(",") if isinstance(body["tags"], str) else body["tags"]
        now = iso(sim.now())
        old = s["_resources"]
        s["_resources"] = {n: old[n] if n in old and old[n]["resource_type"] == t else _new_res(t, now, "UPDATE")
                           for n, t in _resources_of(tpl).items()}
        sim.schedule(s, {"stack_status": "UPDATE_COMPLETE", "updated_time": lambda r: r.update(updated_time=iso(sim.now())),
                         "stack_status_reason": "Stack UPDATE completed successfully",
                         "_res": lambda r: _resources_done(r, "UPDATE")})
        return Response(status_code=202)

    async def delete_stack(request: Request) -> Response:
        s = lookup(request, request.path_params["name"], request.path_params["stack_id"])
        if s["stack_status"] in ("DELETE_COMPLETE", "DELETE_IN_PROGRESS"):
            if s["stack_status"] == "DELETE_COMPLETE":
                raise SimHTTPError(404, f"The Stack ({s['stack_name']}) could not be found.")
            return Response(status_code=204)
        s.pop("_pending", None)
        s.update(stack_status="DELETE_IN_PROGRESS", stack_status_reason="Stack DELETE started")

        def gone(rec: dict[str, Any]) -> None:
            rec.update(stack_status="DELETE_COMPLETE", stack_status_reason="Stack DELETE completed successfully",
                       deletion_time=iso(sim.now()))
            sim.state.remove("stacks", rec["id"], keep_tombstone=True)

        sim.schedule(s, {"stack_status": gone})
        return Response(status_code=204)

    async def list_resources(request: Request) -> Response:
        s = lookup(request, request.path_params["name"], request.path_params["stack_id"])
        out = []
        for n, r in s["_resources"].items():
            href = f"{base(request)}/stacks/{s['stack_name']}/{s['id']}"
            out.append({"resource_name": n, "logical_resource_id": n, **r, "required_by": [],
                        "links": [{"href": f"{href}/resources/{n}", "rel": "self"}, {"href": href, "rel": "stack"}]})
        return json_body({"resources": out})

    async def show_resource(request: Request) -> Response:
        s = lookup(request, request.path_params["name"], request.path_params["stack_id"])
        n = request.path_params["res"]
        r = s["_resources"].get(n)
        if r is None:
            raise SimHTTPError(404, f"The Resource ({n}) could not be found in Stack {s['stack_name']}.")
        href = f"{base(request)}/stacks/{s['stack_name']}/{s['id']}"
        return json_body({"resource": {"resource_name": n, "logical_resource_id": n, **r, "required_by": [],
                                       "attributes": {}, "description": "",
                                       "links": [{"href": f"{href}/resources/{n}", "rel": "self"},
                                                 {"href": href, "rel": "stack"}]}})

    p = "/v1/{project_id}"
    return [
        Route("/", root), Route("/v1", root), Route("/v1/", root), Route(p, root), Route(p + "/", root),
        Route(p + "/stacks", list_stacks, methods=["GET"]),
        Route(p + "/stacks", create_stack, methods=["POST"]),
        Route(p + "/stacks/{name}", redirect, methods=["GET"]),
        Route(p + "/stacks/{name}", by_name_or_id, methods=["PUT", "PATCH", "DELETE"]),
        Route(p + "/stacks/{name}/{stack_id}", show_stack, methods=["GET"]),
        Route(p + "/stacks/{name}/{stack_id}", update_stack, methods=["PUT", "PATCH"]),
        Route(p + "/stacks/{name}/{stack_id}", delete_stack, methods=["DELETE"]),
        Route(p + "/stacks/{name}/{stack_id}/resources", list_resources, methods=["GET"]),
        Route(p + "/stacks/{name}/{stack_id}/resources/{res}", show_resource, methods=["GET"]),
        Route(p + "/stacks/{name}/{tail:path}", redirect, methods=["GET"]),
    ]


def _new_res(rtype: str, ts: str | None, action: str) -> dict[str, Any]:
    return {"resource_type": rtype, "physical_resource_id": "", "resource_status": f"{action}_IN_PROGRESS",
            "resource_status_reason": "state changed", "creation_time": ts, "updated_time": ts}


def _resources_done(s: dict[str, Any], action: str) -> None:
    for r in s["_resources"].values():
        if r["resource_status"].endswith("IN_PROGRESS"):
            r["resource_status"] = f"{action}_COMPLETE"
            r["resource_status_reason"] = "state changed"
            r["physical_resource_id"] = r["physical_resource_id"] or new_id()


def new_stack(sim: Simulator, project: str, name: str, tpl: dict[str, Any], params: dict[str, Any], *,
              status: str, reason: str, ts: float | None = None, rng: random.Random | None = None,
              user_project: str | None = None) -> dict[str, Any]:
    t = iso(ts if ts is not None else sim.now())
    action = status.split("_")[0]
    done = status.endswith("COMPLETE")
    res = {n: {**_new_res(rt, t, action), "resource_status": status if done or status.endswith("FAILED")
               else f"{action}_IN_PROGRESS", "physical_resource_id": new_id(rng) if done else ""}
           for n, rt in _resources_of(tpl).items()}
    s = {"id": new_id(rng), "stack_name": name, "description": tpl.get("description", ""),
         "stack_status": status, "stack_status_reason": reason, "creation_time": t, "updated_time": None,
         "deletion_time": None, "parent": None, "stack_owner": sim.username, "tags": None,
         "stack_user_project_id": user_project or new_id(rng).replace("-", ""), "_project": project,
         "_template": tpl, "_params": params, "_resources": res, "_disable_rollback": True, "_timeout": None}
    return sim.state.add("stacks", s)


SERVICE = ServiceDef(type="orchestration", name="heat", mount="/heat-api", path="/heat-api/v1/{project_id}",
                     routes=routes, public=(r"/?$", r"/v1/?$", r"/v1/[^/]+/?$"))


def populate(sim: Simulator, n: int, rng: random.Random) -> None:
    from app.simulator.heat_fleet import populate as _p

    _p(sim, n, rng)
