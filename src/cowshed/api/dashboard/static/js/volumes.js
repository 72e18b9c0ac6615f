// Volume and snapshot pages over the Block Storage API v3: list, create (blank, from an image,
// a snapshot or a volume), clone, extend, snapshot, delete.

import { get, request, volumeUrl } from "./api.js";
import { dl, field, flash, fmtTime, h, replaceMain, statusBadge } from "./dom.js";
import { go } from "./main.js";

const volPath = (id) => volumeUrl(`/volumes/${encodeURIComponent(id)}`);

function origin(v) {
  if (v.source_volid) return ["volume", v.source_volid];
  if (v.snapshot_id) return ["snapshot", v.snapshot_id];
  if (v.volume_image_metadata && v.volume_image_metadata.image_id) {
    return ["image", v.volume_image_metadata.image_id];
  }
  return null;
}

function originCell(v) {
  const from = origin(v);
  if (!from) return "blank";
  const [kind, id] = from;
  const href = kind === "volume" ? `#/volume/${encodeURIComponent(id)}`
    : kind === "image" ? `#/image/${encodeURIComponent(id)}` : null;
  return [`${kind} `, href ? h("a", { href, class: "mono" }, id.slice(0, 8)) : h("span", { class: "mono" }, id.slice(0, 8))];
}

async function act(label, fn) {
  try {
    await fn();
    flash(`${label}: started.`, "ok");
  } catch (err) {
    flash(`${label} failed: ${err.message}`, "error");
  }
  go(location.hash);
}

export async function volumeList(_arg, _params, alive) {
  const answer = await get(volumeUrl("/volumes/detail?limit=1000"));
  if (!alive()) return;
  const vols = answer.volumes;
  replaceMain(
    h("div", { class: "title-row" }, h("h1", {}, "Volumes"),
      h("div", { class: "actions" }, h("a", { class: "button", href: "#/new-volume" }, "Create volume"))),
    vols.length ? h("div", { class: "table-wrap" }, h("table", { id: "volume-table" },
      h("thead", {}, h("tr", {}, ["Name", "Status", "Size (GiB)", "Type", "From", "Created", ""]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, vols.map((v) => h("tr", {},
        h("td", {}, h("a", { href: `#/volume/${encodeURIComponent(v.id)}` }, v.name || v.id)),
        h("td", {}, statusBadge(v.status)), h("td", { class: "num" }, v.size),
        h("td", {}, v.volume_type || "—"), h("td", {}, originCell(v)),
        h("td", {}, fmtTime(v.created_at)),
        h("td", {}, h("a", { href: `#/lineage/${encodeURIComponent(v.id)}` }, "Lineage")))))))
      : h("p", { class: "empty" }, "No volumes yet."));
}

export async function volumeDetail(id, _params, alive) {
  const v = (await get(volPath(id))).volume;
  if (!alive()) return;
  const name = v.name || v.id;
  const size = h("input", { type: "number", name: "new_size", min: v.size + 1, value: v.size + 1,
    required: true });
  const extend = h("form", { class: "inline" }, field("New size (GiB)", size),
    h("button", { type: "submit" }, "Extend"));
  extend.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("Extend", () => request("POST", `${volPath(id)}/action`,
      { json: { "os-extend": { new_size: Number(size.value) } } }));
  });
  replaceMain(
    h("p", { class: "crumbs" }, h("a", { href: "#/volumes" }, "Volumes"), " / ", name),
    h("div", { class: "title-row" }, h("h1", {}, name), statusBadge(v.status)),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => act("Clone", () => request("POST",
        volumeUrl("/volumes"), { json: { volume: { size: v.size, source_volid: id,
          name: `${v.name || "volume"}-clone` } } })) }, "Clone"),
      h("button", { type: "button", onclick: () => act("Snapshot", () => request("POST",
        volumeUrl("/snapshots"), { json: { snapshot: { volume_id: id,
          name: `${v.name || "volume"}-snap` } } })) }, "Snapshot"),
      h("a", { class: "button", href: `#/lineage/${encodeURIComponent(id)}` }, "Lineage"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Delete volume ${name}?`)) return;
        try {
          await request("DELETE", volPath(id));
          flash(`Volume ${name} is being deleted.`, "ok");
          go("#/volumes");
        } catch (err) {
          flash(`Delete failed: ${err.message}`, "error");
        }
      } }, "Delete")),
    extend,
    dl([["ID", v.id], ["Status", v.status], ["Size (GiB)", v.size], ["Type", v.volume_type],
      ["Bootable", v.bootable], ["Encrypted", String(v.encrypted)], ["From", originCell(v)],
      ["Attachments", (v.attachments || []).map((a) => a.server_id || a.attachment_id).join(", ") || "—"],
      ["Created", fmtTime(v.created_at)], ["Description", v.description]]));
}

export async function volumeCreate(_arg, params, alive) {
  const [snaps, vols] = await Promise.all([
    get(volumeUrl("/snapshots/detail?limit=1000")).then((a) => a.snapshots, () => []),
    get(volumeUrl("/volumes/detail?limit=1000")).then((a) => a.volumes, () => []),
  ]);
  if (!alive()) return;
  const name = h("input", { name: "name", maxlength: 255 });
  const size = h("input", { name: "size", type: "number", min: 1, value: 1, required: true });
  const image = h("input", { name: "imageRef", value: params.get("image") || "", placeholder: "image id" });
  const snapshot = h("select", { name: "snapshot_id" }, h("option", { value: "" }, "none"),
    snaps.map((s) => h("option", { value: s.id, selected: s.id === params.get("snapshot") }, s.name || s.id)));
  const source = h("select", { name: "source_volid" }, h("option", { value: "" }, "none"),
    vols.map((v) => h("option", { value: v.id, selected: v.id === params.get("volume") }, v.name || v.id)));
  const button = h("button", { type: "submit" }, "Create");
  const form = h("form", { class: "stack" }, field("Name", name), field("Size (GiB)", size),
    field("From image", image, "Leave empty for a blank volume."), field("From snapshot", snapshot),
    field("Clone of volume", source), button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { size: Number(size.value), name: name.value };
    if (image.value.trim()) body.imageRef = image.value.trim();
    if (snapshot.value) body.snapshot_id = snapshot.value;
    if (source.value) body.source_volid = source.value;
    button.disabled = true;
    try {
      const v = (await request("POST", volumeUrl("/volumes"), { json: { volume: body } })).volume;
      flash(`Volume ${v.name || v.id} is being created.`, "ok");
      go(`#/volume/${encodeURIComponent(v.id)}`);
    } catch (err) {
      flash(`Creating the volume failed: ${err.message}`, "error");
      button.disabled = false;
    }
  });
  replaceMain(h("p", { class: "crumbs" }, h("a", { href: "#/volumes" }, "Volumes"), " / Create"),
    h("h1", {}, "Create a volume"), form);
}

export async function snapshotList(_arg, _params, alive) {
  const snaps = (await get(volumeUrl("/snapshots/detail?limit=1000"))).snapshots;
  if (!alive()) return;
  replaceMain(h("h1", {}, "Snapshots"),
    snaps.length ? h("div", { class: "table-wrap" }, h("table", { id: "snapshot-table" },
      h("thead", {}, h("tr", {}, ["Name", "Status", "Size (GiB)", "Volume", "Created", ""]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, snaps.map((s) => h("tr", {},
        h("td", {}, s.name || s.id), h("td", {}, statusBadge(s.status)),
        h("td", { class: "num" }, s.size),
        h("td", {}, h("a", { href: `#/volume/${encodeURIComponent(s.volume_id)}`, class: "mono" },
          s.volume_id.slice(0, 8))),
        h("td", {}, fmtTime(s.created_at)),
        h("td", {}, h("a", { href: `#/new-volume?snapshot=${encodeURIComponent(s.id)}` }, "New volume"), " ",
          h("button", { type: "button", class: "link danger", onclick: () => act("Delete snapshot",
            () => request("DELETE", volumeUrl(`/snapshots/${encodeURIComponent(s.id)}`))) },
          "Delete")))))))
      : h("p", { class: "empty" }, "No snapshots yet."));
}
