"""The Image API v2 route table."""

from __future__ import annotations

from starlette.routing import BaseRoute

from cowshed.api.image import data, discovery, images, imports, locations, members, tasks
from cowshed.api.metadefs.routes import table as metadef_table
from cowshed.api.routing import Table, build_routes

_IMG = "/v2/images/{image_id}"


def table() -> Table:
    """(method, path, handler) for every operation of the Image API v2."""
    return [
        ("GET", "/", discovery.root),
        ("GET", "/versions", discovery.versions),
        # Glance's version negotiation maps a bare /v2 to the version list, so endpoints
        # registered with a /v2 suffix still pass client version discovery.
        ("GET", "/v2", discovery.root),
        ("GET", "/v2/", discovery.root),
        ("GET", "/v2/schemas/{name}", discovery.schema),
        # cowshed's OpenAPI description of this table (Glance has no such path; docs/api.md)
        ("GET", "/openapi.yaml", discovery.openapi),
        ("POST", "/v2/images", images.create_image),
        ("GET", "/v2/images", images.list_images),
        ("GET", _IMG, images.show_image),
        ("PATCH", _IMG, images.update_image),
        ("DELETE", _IMG, images.delete_image),
        ("PUT", _IMG + "/file", data.upload),
        ("GET", _IMG + "/file", data.download),
        ("PUT", _IMG + "/stage", imports.stage),
        ("POST", _IMG + "/import", imports.import_image),
        ("GET", _IMG + "/tasks", imports.image_tasks),
        ("POST", _IMG + "/locations", locations.add_location),
        ("GET", _IMG + "/locations", locations.list_locations),
        ("POST", _IMG + "/actions/deactivate", images.deactivate),
        ("POST", _IMG + "/actions/reactivate", images.reactivate),
        ("PUT", _IMG + "/tags/{tag}", images.add_tag),
        ("DELETE", _IMG + "/tags/{tag}", images.remove_tag),
        ("GET", _IMG + "/members", members.list_members),
        ("POST", _IMG + "/members", members.add_member),
        ("GET", _IMG + "/members/{member_id}", members.show_member),
        ("PUT", _IMG + "/members/{member_id}", members.update_member),
        ("DELETE", _IMG + "/members/{member_id}", members.remove_member),
        ("DELETE", "/v2/stores/{store}/{image_id}", images.delete_from_store),
        ("GET", "/v2/info/import", discovery.info_import),
        ("GET", "/v2/info/usage", discovery.info_usage),
        ("GET", "/v2/info/stores", discovery.info_stores),
        ("GET", "/v2/info/stores/detail", discovery.info_stores_detail),
        ("GET", "/v2/tasks", tasks.list_tasks),
        ("POST", "/v2/tasks", tasks.create_task),
        # Glance answers DELETE /v2/tasks/{id} with 405 (tasks expire): the table's default
        ("GET", "/v2/tasks/{task_id}", imports.show_task),
    ]


def routes() -> list[BaseRoute]:
    """Every path of the Image API v2, metadata definitions included."""
    return build_routes([*metadef_table(), *table()])
