"""The JSON-Schema documents served under ``/v2/schemas`` (what glanceclient validates with)."""

from __future__ import annotations

from typing import Any

from cowshed.domain.image_rules import UUID_RE
from cowshed.domain.images import CONTAINER_FORMATS, DISK_FORMATS, ImageStatus
from cowshed.domain.tasks import TASK_TYPES


def _ro(kind: object, description: str, **extra: object) -> dict[str, object]:
    return {"type": kind, "readOnly": True, "description": description, **extra}


def image_properties() -> dict[str, Any]:
    return {
        "id": {"type": "string", "description": "An identifier for the image",
               "pattern": UUID_RE.pattern},
        "name": {"type": ["null", "string"], "maxLength": 255,
                 "description": "Descriptive name for the image"},
        "status": _ro("string", "Status of the image", enum=[s.value for s in ImageStatus]),
        "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"],
                       "description": "Scope of image accessibility"},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, image will not appear in default image list response."},
        "checksum": _ro(["null", "string"], "md5 hash of image contents.", maxLength=32),
        "os_hash_algo": _ro(["null", "string"], "Algorithm to calculate the os_hash_value",
                            maxLength=64),
        "os_hash_value": _ro(["null", "string"], "Hexdigest of the image contents",
                             maxLength=128),
        "owner": {"type": ["null", "string"], "maxLength": 255,
                  "description": "Owner of the image"},
        "size": _ro(["null", "integer"], "Size of image file in bytes"),
        "virtual_size": _ro(["null", "integer"], "Virtual size of image in bytes"),
        "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS],
                             "description": "Format of the container"},
        "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS],
                        "description": "Format of the disk"},
        "created_at": _ro("string", "Date and time of image registration"),
        "updated_at": _ro("string", "Date and time of the last image modification"),
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": _ro("string", "URL to access the image file kept in external store"),
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer",
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": _ro("string", "An image self url"),
        "file": _ro("string", "An image file url"),
        "stores": _ro("string", "Store in which image data resides.  Only present when the "
                      "operator has enabled multiple stores."),
        "schema": _ro("string", "An image schema url"),
        "locations": {
            "type": "array", "description": "A set of URLs to access the image file kept in "
            "external store",
            "items": {"type": "object", "required": ["url", "metadata"], "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"},
                "validation_data": {"type": "object"},
            }},
        },
    }


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "properties": image_properties(),
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "member_id": {"type": "string"}, "image_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "created_at": {"type": "string"}, "updated_at": {"type": "string"},
            "schema": {"type": "string", "readOnly": True},
        },
    }


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {"members": {"type": "array", "items": member_schema()},
                       "schema": {"type": "string"}},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}],
    }


def task_schema() -> dict[str, Any]:
    return {
        "name": "task",
        "properties": {
            "id": {"type": "string"}, "type": {"type": "string", "enum": list(TASK_TYPES)},
            "status": {"type": "string",
                       "enum": ["pending", "processing", "success", "failure"]},
            "input": {"type": ["null", "object"]}, "result": {"type": ["null", "object"]},
            "owner": {"type": ["null", "string"]}, "message": {"type": "string"},
            "image_id": {"type": ["null", "string"]},
            "expires_at": {"type": ["null", "string"]}, "created_at": {"type": "string"},
            "updated_at": {"type": "string"}, "self": {"type": "string"},
            "schema": {"type": "string"},
        },
    }


def tasks_schema() -> dict[str, Any]:
    return {
        "name": "tasks",
        "properties": {"tasks": {"type": "array", "items": task_schema()},
                       "schema": {"type": "string"}, "first": {"type": "string"},
                       "next": {"type": "string"}},
    }


SCHEMAS = {
    "image": image_schema, "images": images_schema, "member": member_schema,
    "members": members_schema, "task": task_schema, "tasks": tasks_schema,
}
