"""The `schema` toolset: describe, list objects and fields, learn the schema, org summary."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult
from pydantic import Field

from sfbulk_mcp.salesforce.errors import SalesforceError

from .. import hints
from ..app import App, respond
from ..formatting import json_size
from ..models import (
    CustomObjectSummary,
    DescribeResult,
    FieldInfo,
    FieldList,
    InstallationInfo,
    LearnResult,
    ObjectList,
    ObjectSummary,
)


def field_info(f: dict[str, Any], *, picklists: bool = True) -> FieldInfo:
    """The compact view of one describe field."""
    values = None
    if picklists and f.get("picklistValues"):
        values = [p["value"] for p in f["picklistValues"] if p.get("active", True)]
    required = (
        f.get("nillable") is False and bool(f.get("createable")) and not f.get("defaultedOnCreate")
    )
    return FieldInfo(
        name=f["name"],
        type=f.get("type", "string"),
        label=f.get("label"),
        length=f.get("length") or None,
        required=required or None,
        custom=bool(f.get("custom")) or None,
        updateable=f.get("updateable"),
        external_id=bool(f.get("externalId")) or None,
        reference_to=list(f["referenceTo"]) if f.get("referenceTo") else None,
        relationship_name=f.get("relationshipName"),
        picklist_values=values,
    )


def _field_line(f: FieldInfo) -> str:
    parts = [f.name, f.type]
    if f.reference_to:
        parts.append("→" + "/".join(f.reference_to) + (f" ({f.relationship_name})" if f.relationship_name else ""))
    if f.required:
        parts.append("required")
    if f.external_id:
        parts.append("externalId")
    if f.picklist_values:
        shown = f.picklist_values[:15]
        more = len(f.picklist_values) - len(shown)
        parts.append("[" + "|".join(shown) + (f"|…{more} more" if more else "") + "]")
    return " ".join(parts)


def _fit_fields(fields: list[FieldInfo], budget: int) -> tuple[list[FieldInfo], bool]:
    used = 0
    kept: list[FieldInfo] = []
    for f in fields:
        size = json_size(f.model_dump(exclude_none=True)) + len(_field_line(f)) + 4
        if kept and used + size > budget:
            return kept, True
        kept.append(f)
        used += size
    return kept, False


def register(server: MCPServer[Any], app: App, *, read_only: bool) -> None:
    """Add the schema tools to `server`."""

    @server.tool(
        name="salesforce_describe_object",
        annotations=hints.read("Describe an object"),
        description=(
            "Describe an sObject compactly: each field's API name, type, reference targets "
            "and relationship names (for Parent.Field paths), required flags, picklist "
            "values; child relationships (for subqueries)."
        ),
    )
    async def salesforce_describe_object(
        object_name: Annotated[str, Field(description="sObject API name, e.g. Account")],
    ) -> Annotated[CallToolResult, DescribeResult]:
        app.policy.check(object_name)
        client = await app.client()
        describe = await client.describe(object_name)
        app.memory().remember(describe)
        fields = [field_info(f) for f in describe.get("fields", [])]
        children = [
            {"relationshipName": c["relationshipName"], "childSObject": c.get("childSObject"),
             "field": c.get("field")}
            for c in describe.get("childRelationships", [])
            if c.get("relationshipName") and app.policy.allowed(c.get("childSObject", ""))
        ]
        kept, truncated = _fit_fields(fields, int(app.budget * 0.7))
        child_budget = app.budget - sum(len(_field_line(f)) for f in kept) * 2
        shown_children: list[dict[str, Any]] = []
        for child in children:
            if json_size(shown_children) + json_size(child) > max(child_budget, 500):
                truncated = True
                break
            shown_children.append(child)
        note = None
        if truncated:
            note = (
                f"Shortened to fit the budget ({len(kept)} of {len(fields)} fields, "
                f"{len(shown_children)} of {len(children)} child relationships): use "
                "salesforce_get_object_fields with a filter for the rest."
            )
        result = DescribeResult(
            name=describe.get("name", object_name),
            label=describe.get("label"),
            key_prefix=describe.get("keyPrefix"),
            custom=bool(describe.get("custom")),
            createable=describe.get("createable"),
            updateable=describe.get("updateable"),
            deletable=describe.get("deletable"),
            queryable=describe.get("queryable"),
            field_count=len(fields),
            fields=kept,
            child_relationships=shown_children,
            truncated=truncated,
            note=note,
        )
        text = (
            f"{result.name} ({result.label}), {len(fields)} fields\n"
            + "\n".join(_field_line(f) for f in kept)
            + ("\nchild relationships: " + ", ".join(
                f"{c['relationshipName']}({c['childSObject']})" for c in shown_children)
               if shown_children else "")
            + (f"\n{note}" if note else "")
        )
        return respond(result, text)

    @server.tool(
        name="salesforce_list_objects",
        annotations=hints.read("List objects"),
        description=(
            "List the org's sObjects (API name, label, custom flag). Filter by a substring of "
            "the name or label, and/or custom_only=true."
        ),
    )
    async def salesforce_list_objects(
        filter: Annotated[str | None, Field(description="Substring of name or label")] = None,
        custom_only: bool = False,
    ) -> Annotated[CallToolResult, ObjectList]:
        client = await app.client()
        answer = await client.describe_global()
        needle = (filter or "").lower()
        objects = [
            ObjectSummary(
                name=o["name"], label=o.get("label"), custom=bool(o.get("custom")),
                key_prefix=o.get("keyPrefix"),
            )
            for o in answer.get("sobjects", [])
            if app.policy.allowed(o["name"])
            and (not custom_only or o.get("custom"))
            and (not needle or needle in o["name"].lower() or needle in (o.get("label") or "").lower())
        ]
        kept: list[ObjectSummary] = []
        used = 0
        for o in objects:
            size = json_size(o.model_dump()) + len(o.name) + 20
            if kept and used + size > app.budget - 400:
                break
            kept.append(o)
            used += size
        truncated = len(kept) < len(objects)
        note = (
            f"{len(objects) - len(kept)} more: narrow with `filter` or custom_only=true."
            if truncated else None
        )
        result = ObjectList(
            total=len(objects), returned=len(kept), objects=kept, truncated=truncated, note=note
        )
        text = f"{len(kept)} of {len(objects)} objects\n" + "\n".join(
            f"{o.name}{' (custom)' if o.custom else ''} — {o.label}" for o in kept
        ) + (f"\n{note}" if note else "")
        return respond(result, text)

    @server.tool(
        name="salesforce_get_object_fields",
        annotations=hints.read("Object fields"),
        description=(
            "List the fields of an object (name, type, label, references), optionally "
            "filtered by a substring, by type, or to custom fields only."
        ),
    )
    async def salesforce_get_object_fields(
        object_name: Annotated[str, Field(description="sObject API name")],
        filter: Annotated[str | None, Field(description="Substring of name or label")] = None,
        field_type: Annotated[str | None, Field(description="e.g. reference, picklist")] = None,
        custom_only: bool = False,
    ) -> Annotated[CallToolResult, FieldList]:
        app.policy.check(object_name)
        client = await app.client()
        describe = await client.describe(object_name)
        app.memory().remember(describe)
        needle = (filter or "").lower()
        fields = [
            field_info(f)
            for f in describe.get("fields", [])
            if (not custom_only or f.get("custom"))
            and (not field_type or f.get("type") == field_type.lower())
            and (not needle or needle in f["name"].lower() or needle in (f.get("label") or "").lower())
        ]
        kept, truncated = _fit_fields(fields, app.budget - 400)
        note = f"{len(fields) - len(kept)} more: narrow with `filter`." if truncated else None
        result = FieldList(
            object_name=describe.get("name", object_name), total=len(fields),
            returned=len(kept), fields=kept, truncated=truncated, note=note,
        )
        text = f"{result.object_name}: {len(kept)} of {len(fields)} fields\n" + "\n".join(
            _field_line(f) for f in kept
        ) + (f"\n{note}" if note else "")
        return respond(result, text)

    @server.tool(
        name="salesforce_learn_schema",
        annotations=hints.local("Learn the org schema", read_only=True),
        description=(
            "Learn the org's objects, fields and relationships into a local cache (adds to "
            "what is already known). Queries are then checked before they are sent, with "
            "'did you mean' hints. No objects given: the common standard objects and the "
            "custom ones. refresh=true describes them again."
        ),
    )
    async def salesforce_learn_schema(
        objects: Annotated[list[str] | None, Field(description="sObject API names")] = None,
        refresh: bool = False,
    ) -> Annotated[CallToolResult, LearnResult]:
        if objects:
            app.policy.check_all(objects)
        client = await app.client()
        memory = app.memory()
        learned, skipped = await memory.learn(client, objects, refresh=refresh)
        if objects is None:
            learned = [n for n in learned if app.policy.allowed(n)]
        result = LearnResult(
            learned=learned,
            already_known=skipped,
            objects_in_org=len(memory.global_objects),
            objects_learned_total=len(memory.learned_objects),
        )
        text = (
            f"Learned {len(learned)} object(s): {', '.join(learned) or '-'}; already known: "
            f"{', '.join(skipped) or '-'}. {len(memory.learned_objects)} of "
            f"{len(memory.global_objects)} org objects are in the schema memory."
        )
        return respond(result, text)

    @server.tool(
        name="salesforce_installation_info",
        annotations=hints.read("Org customisation summary"),
        description=(
            "Summarise the org's customisation: custom objects (with their custom fields "
            "when learned), managed-package namespaces, custom fields on standard objects."
        ),
    )
    async def salesforce_installation_info() -> Annotated[CallToolResult, InstallationInfo]:
        client = await app.client()
        memory = app.memory()
        if not memory.global_objects:
            await memory.learn(client, [])
        objects = [o for o in memory.global_objects if app.policy.allowed(o["name"])]
        custom = [o for o in objects if o.get("custom")]
        namespaces = sorted(
            {o["name"].split("__")[0] for o in custom if o["name"].count("__") >= 2}
        )
        summaries: list[CustomObjectSummary] = []
        for o in custom:
            learned = memory.object(o["name"])
            fields = (
                sorted(n for n, f in learned["fields"].items() if f.get("custom"))
                if learned else None
            )
            summaries.append(CustomObjectSummary(name=o["name"], label=o.get("label"), custom_fields=fields))
        on_standard: dict[str, list[str]] = {}
        for name in memory.learned_objects:
            learned = memory.object(name)
            if learned and not learned.get("custom") and app.policy.allowed(name):
                customs = sorted(n for n, f in learned["fields"].items() if f.get("custom"))
                if customs:
                    on_standard[name] = customs
        kept = summaries
        truncated = False
        while json_size([s.model_dump() for s in kept]) + json_size(on_standard) > app.budget - 800 and kept:
            kept = kept[: max(0, len(kept) * 3 // 4)]
            truncated = True
        note = (
            "Custom fields are listed for learned objects only: run salesforce_learn_schema "
            "to include more."
        )
        if truncated:
            note += f" Showing {len(kept)} of {len(summaries)} custom objects."
        version = None
        try:
            version = await client.api_version()
        except SalesforceError:  # the summary is still useful without it
            version = None
        instance = None
        try:
            instance = await client.instance_url()
        except SalesforceError:
            instance = None
        result = InstallationInfo(
            instance_url=instance,
            api_version=version,
            objects_total=len(objects),
            standard_objects=len(objects) - len(custom),
            custom_objects=kept,
            namespaces=namespaces,
            custom_fields_on_standard_objects=on_standard,
            truncated=truncated,
            note=note,
        )
        lines = [
            f"{len(objects)} objects: {len(objects) - len(custom)} standard, {len(custom)} custom"
            + (f"; namespaces: {', '.join(namespaces)}" if namespaces else ""),
        ]
        for s in kept:
            lines.append(
                f"{s.name} ({s.label})" + (f": {', '.join(s.custom_fields)}" if s.custom_fields else "")
            )
        for name, customs in on_standard.items():
            lines.append(f"{name} custom fields: {', '.join(customs)}")
        lines.append(note)
        return respond(result, "\n".join(lines))
