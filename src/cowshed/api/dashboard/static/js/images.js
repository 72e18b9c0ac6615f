// Image pages: list (the API's filters, sort and paging), detail and actions, upload, import.

import { ApiError, get, patchImage, request, session, uploadFile } from "./api.js";
import { dl, field, flash, fmtSize, fmtTime, h, replaceMain, select, statusBadge } from "./dom.js";
import { go } from "./main.js";

const STATUSES = ["", "queued", "saving", "uploading", "importing", "active", "deactivated",
  "killed", "pending_delete"];
const VISIBILITIES = ["", "public", "private", "shared", "community", "all"];
const DISK_FORMATS = ["raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ploop", "aki", "ari", "ami"];
const CONTAINER_FORMATS = ["bare", "ovf", "ova", "aki", "ari", "ami", "docker", "compressed"];
const SORT_KEYS = ["created_at", "updated_at", "name", "size", "status", "disk_format", "visibility"];
const PAGE_SIZES = ["25", "100", "1000"];
const CORE = new Set(["id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
  "os_hash_algo", "os_hash_value", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
  "container_format", "owner", "created_at", "updated_at", "tags", "self", "file", "schema",
  "locations", "direct_url", "stores"]);

const imagePath = (id) => `/v2/images/${encodeURIComponent(id)}`;
const opts = (values) => values.map((v) => [v, v || "any"]);

// -- list ------------------------------------------------------------------------------------

export async function imageList(_arg, params, alive) {
  const query = new URLSearchParams();
  for (const key of ["name", "status", "visibility", "disk_format", "marker", "tag"]) {
    const value = params.get(key);
    if (value) query.set(key, value);
  }
  const sortKey = params.get("sort_key") || "created_at";
  const sortDir = params.get("sort_dir") || "desc";
  const limit = params.get("limit") || "25";
  query.set("sort", `${sortKey}:${sortDir}`);
  query.set("limit", limit);
  const started = performance.now();
  const answer = await get(`/v2/images?${query}`);
  if (!alive()) return;

  const form = filterForm(params, sortKey, sortDir, limit);
  const table = imageTable(answer.images);
  const pager = pagerFor(params, answer);
  replaceMain(
    h("div", { class: "title-row" }, h("h1", {}, "Images"),
      h("div", { class: "actions" },
        h("a", { class: "button", href: "#/upload" }, "Upload image"),
        h("a", { class: "button", href: "#/import" }, "Import by URL"))),
    form, table, pager);
  const ms = Math.round(performance.now() - started);
  document.getElementById("main").dataset.renderMs = String(ms);
}

function filterForm(params, sortKey, sortDir, limit) {
  const name = h("input", { name: "name", type: "search", value: params.get("name") || "",
    placeholder: "exact name" });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter images" },
    field("Name", name),
    field("Status", select("status", opts(STATUSES), params.get("status") || "")),
    field("Visibility", select("visibility", opts(VISIBILITIES), params.get("visibility") || "")),
    field("Disk format", select("disk_format", opts(["", ...DISK_FORMATS]), params.get("disk_format") || "")),
    field("Sort by", select("sort_key", SORT_KEYS.map((k) => [k, k]), sortKey)),
    field("Order", select("sort_dir", [["desc", "descending"], ["asc", "ascending"]], sortDir)),
    field("Per page", select("limit", PAGE_SIZES.map((n) => [n, n]), limit)),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) next.set(k, v);
    go(`#/images?${next}`);
  });
  return form;
}

function imageTable(images) {
  if (!images.length) return h("p", { class: "empty" }, "No images match.");
  const body = document.createDocumentFragment();
  for (const img of images) {
    body.append(h("tr", {},
      h("td", {}, h("a", { href: `#/image/${encodeURIComponent(img.id)}` }, img.name || "(no name)")),
      h("td", {}, statusBadge(img.status)),
      h("td", {}, img.visibility),
      h("td", {}, img.disk_format || "—"),
      h("td", { class: "num" }, fmtSize(img.size)),
      h("td", {}, fmtTime(img.created_at)),
      h("td", { class: "mono" }, img.id)));
  }
  return h("div", { class: "table-wrap" },
    h("table", { id: "image-table" },
      h("caption", { class: "sr-only" }, "Images"),
      h("thead", {}, h("tr", {}, ["Name", "Status", "Visibility", "Disk format", "Size",
        "Created", "ID"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, body)));
}

function pagerFor(params, answer) {
  const links = [];
  if (params.get("marker")) {
    links.push(h("button", { type: "button", onclick: () => history.back() }, "← Previous"));
  }
  if (answer.next) {
    const marker = new URL(answer.next, location.origin).searchParams.get("marker");
    const next = new URLSearchParams(params);
    next.set("marker", marker);
    links.push(h("a", { class: "button", href: `#/images?${next}`, rel: "next" }, "Next →"));
  }
  return h("nav", { class: "pager", "aria-label": "Pages" }, links);
}

// -- detail ----------------------------------------------------------------------------------

export async function imageDetail(id, _params, alive) {
  const img = await get(imagePath(id));
  const [tasks, members] = await Promise.all([
    get(`${imagePath(id)}/tasks`).then((a) => a.tasks, () => []),
    img.visibility === "shared"
      ? get(`${imagePath(id)}/members`).then((a) => a.members, (e) => e)
      : Promise.resolve(null),
  ]);
  if (!alive()) return;
  const extra = Object.keys(img).filter((k) => !CORE.has(k)).sort();
  replaceMain(
    h("p", { class: "crumbs" }, h("a", { href: "#/images" }, "Images"), " / ", img.name || img.id),
    h("div", { class: "title-row" }, h("h1", {}, img.name || "(no name)"), statusBadge(img.status)),
    actions(img),
    h("section", { "aria-labelledby": "h-attrs" }, h("h2", { id: "h-attrs" }, "Attributes"),
      dl([["ID", img.id], ["Status", img.status], ["Visibility", img.visibility],
        ["Protected", String(img.protected)], ["Disk format", img.disk_format],
        ["Container format", img.container_format], ["Size", fmtSize(img.size)],
        ["Virtual size", fmtSize(img.virtual_size)], ["Min disk (GB)", img.min_disk],
        ["Min RAM (MB)", img.min_ram], ["Owner", img.owner], ["Created", fmtTime(img.created_at)],
        ["Updated", fmtTime(img.updated_at)], ["Hidden", String(img.os_hidden)]])),
    h("section", { "aria-labelledby": "h-sums" }, h("h2", { id: "h-sums" }, "Checksums"),
      dl([["MD5 (checksum)", img.checksum], [`${img.os_hash_algo || "hash"} (os_hash_value)`,
        img.os_hash_value]])),
    h("section", { "aria-labelledby": "h-stores" }, h("h2", { id: "h-stores" }, "Stores and locations"),
      dl([["Stores", img.stores || "—"], ["Direct URL", img.direct_url]]),
      (img.locations || []).length
        ? h("ul", {}, img.locations.map((l) => h("li", { class: "mono" }, `${(l.metadata || {}).store || ""} ${l.url}`)))
        : null),
    h("section", { "aria-labelledby": "h-props" }, h("h2", { id: "h-props" }, "Properties"),
      extra.length ? dl(extra.map((k) => [k, typeof img[k] === "string" ? img[k] : JSON.stringify(img[k])]))
        : h("p", { class: "muted" }, "No extra properties.")),
    tagSection(img),
    memberSection(img, members),
    taskSection(tasks));
}

function actions(img) {
  const id = img.id;
  const run = (label, fn, confirmText) => h("button", { type: "button", onclick: async (ev) => {
    if (confirmText && !confirm(confirmText)) return;
    ev.target.disabled = true;
    try {
      await fn();
      flash(`${label}: done.`, "ok");
    } catch (err) {
      flash(`${label} failed: ${err.message}`, "error");
    } finally {
      ev.target.disabled = false;
    }
    go(location.hash);
  } }, label);
  const buttons = [];
  if (img.status === "active") {
    buttons.push(h("button", { type: "button", onclick: () => download(img) }, "Download"));
    buttons.push(run("Deactivate", () => request("POST", `${imagePath(id)}/actions/deactivate`)));
  }
  if (img.status === "deactivated") {
    buttons.push(run("Reactivate", () => request("POST", `${imagePath(id)}/actions/reactivate`)));
  }
  buttons.push(run(img.protected ? "Unprotect" : "Protect",
    () => patchImage(id, [{ op: "replace", path: "/protected", value: !img.protected }])));
  if (session.config.volume_api && img.status === "active") {
    buttons.push(h("a", { class: "button", href: `#/new-volume?image=${encodeURIComponent(id)}` },
      "Create volume"));
  }
  buttons.push(h("button", { type: "button", class: "danger", onclick: async () => {
    if (!confirm(`Delete image ${img.name || id}? This cannot be undone.`)) return;
    try {
      await request("DELETE", imagePath(id));
      flash(`Image ${img.name || id} deleted.`, "ok");
      go("#/images");
    } catch (err) {
      flash(`Delete failed: ${err.message}`, "error");
    }
  } }, "Delete"));
  return h("div", { class: "actions" }, buttons);
}

async function download(img) {
  const url = `${imagePath(img.id)}/file`;
  if (!session.token) {  // no token to send: let the browser stream it to disk
    const a = h("a", { href: url, download: img.name || img.id });
    document.body.append(a);
    a.click();
    a.remove();
    return;
  }
  try {
    const response = await request("GET", url, { raw: true });
    const blob = await response.blob();
    const a = h("a", { href: URL.createObjectURL(blob), download: img.name || img.id });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    flash(`Download failed: ${err.message}`, "error");
  }
}

function tagSection(img) {
  const input = h("input", { name: "tag", required: true, maxlength: 255 });
  const form = h("form", { class: "inline" }, field("New tag", input),
    h("button", { type: "submit" }, "Add tag"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await request("PUT", `${imagePath(img.id)}/tags/${encodeURIComponent(input.value)}`);
      go(location.hash);
    } catch (err) {
      flash(`Adding the tag failed: ${err.message}`, "error");
    }
  });
  return h("section", { "aria-labelledby": "h-tags" }, h("h2", { id: "h-tags" }, "Tags"),
    img.tags.length ? h("ul", { class: "tags" }, img.tags.map((t) => h("li", {}, t, " ",
      h("button", { type: "button", class: "link", "aria-label": `Remove tag ${t}`, onclick: async () => {
        try {
          await request("DELETE", `${imagePath(img.id)}/tags/${encodeURIComponent(t)}`);
          go(location.hash);
        } catch (err) {
          flash(`Removing the tag failed: ${err.message}`, "error");
        }
      } }, "×"))))
      : h("p", { class: "muted" }, "No tags."),
    form);
}

function memberSection(img, members) {
  const section = h("section", { "aria-labelledby": "h-members" }, h("h2", { id: "h-members" }, "Members"));
  if (img.visibility !== "shared") {
    section.append(h("p", { class: "muted" }, `Visibility is ${img.visibility}: set it to `,
      h("button", { type: "button", class: "link", onclick: async () => {
        try {
          await patchImage(img.id, [{ op: "replace", path: "/visibility", value: "shared" }]);
          go(location.hash);
        } catch (err) {
          flash(`Changing visibility failed: ${err.message}`, "error");
        }
      } }, "shared"), " to share it with other projects."));
    return section;
  }
  if (members instanceof Error) {
    section.append(h("p", { class: "error" }, members.message));
  } else if (members && members.length) {
    section.append(h("table", {}, h("thead", {}, h("tr", {},
      ["Project", "Status", "Since", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, members.map((m) => h("tr", {}, h("td", { class: "mono" }, m.member_id),
      h("td", {}, m.status), h("td", {}, fmtTime(m.created_at)),
      h("td", {}, h("button", { type: "button", class: "link", onclick: async () => {
        try {
          await request("DELETE", `${imagePath(img.id)}/members/${encodeURIComponent(m.member_id)}`);
          go(location.hash);
        } catch (err) {
          flash(`Removing the member failed: ${err.message}`, "error");
        }
      } }, "Remove")))))));
  } else {
    section.append(h("p", { class: "muted" }, "Not shared with any project yet."));
  }
  const input = h("input", { name: "member", required: true, placeholder: "project id" });
  const form = h("form", { class: "inline" }, field("Share with project", input),
    h("button", { type: "submit" }, "Share"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await request("POST", `${imagePath(img.id)}/members`, { json: { member: input.value.trim() } });
      flash(`Shared with ${input.value.trim()}.`, "ok");
      go(location.hash);
    } catch (err) {
      flash(`Sharing failed: ${err.message}`, "error");
    }
  });
  section.append(form);
  return section;
}

function taskSection(tasks) {
  return h("section", { "aria-labelledby": "h-tasks" }, h("h2", { id: "h-tasks" }, "Import tasks"),
    tasks.length ? h("table", {}, h("thead", {}, h("tr", {},
      ["Task", "Status", "Message", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, tasks.map((t) => h("tr", {}, h("td", { class: "mono" }, t.id),
      h("td", {}, statusBadge(t.status)), h("td", {}, t.message || "—"),
      h("td", {}, fmtTime(t.updated_at))))))
      : h("p", { class: "muted" }, "No tasks."));
}

// -- create: upload and import ---------------------------------------------------------------

function createFields() {
  return [
    field("Name", h("input", { name: "name", required: true, maxlength: 255, autocomplete: "off" })),
    field("Disk format", select("disk_format", DISK_FORMATS.map((f) => [f, f]), "qcow2")),
    field("Container format", select("container_format", CONTAINER_FORMATS.map((f) => [f, f]), "bare")),
    field("Visibility", select("visibility", ["private", "shared", "community", "public"]
      .map((v) => [v, v]), "private")),
  ];
}

async function createImage(form) {
  const data = new FormData(form);
  const body = {};
  for (const key of ["name", "disk_format", "container_format", "visibility"]) {
    body[key] = String(data.get(key) || "");
  }
  return request("POST", "/v2/images", { json: body });
}

export async function uploadPage() {
  const file = h("input", { type: "file", name: "file", required: true });
  const bar = h("progress", { max: 100, value: 0, "aria-label": "Upload progress", hidden: true });
  const note = h("p", { class: "muted", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Upload");
  const form = h("form", { class: "stack" }, createFields(), field("Image file", file),
    button, bar, note);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    let img = null;
    try {
      img = await createImage(form);
      bar.hidden = false;
      await uploadFile(`${imagePath(img.id)}/file`, file.files[0], (done, total) => {
        bar.value = Math.floor((done * 100) / total);
        note.textContent = `${fmtSize(done)} of ${fmtSize(total)}`;
      });
      bar.value = 100;
      note.textContent = "Uploaded; waiting for the image to become active…";
      await waitFor(img.id, ["active"]);
      flash(`Image ${img.name} is active.`, "ok");
      go(`#/image/${encodeURIComponent(img.id)}`);
    } catch (err) {
      flash(`Upload failed: ${err.message}`, "error");
      note.textContent = "";
      button.disabled = false;
      if (img) go(`#/image/${encodeURIComponent(img.id)}`);
    }
  });
  replaceMain(h("p", { class: "crumbs" }, h("a", { href: "#/images" }, "Images"), " / Upload"),
    h("h1", {}, "Upload an image"), form);
}

export async function importPage() {
  const uri = h("input", { name: "uri", type: "url", required: true, placeholder: "https://…" });
  const button = h("button", { type: "submit" }, "Import");
  const form = h("form", { class: "stack" }, createFields(), field("URL", uri,
    "The server downloads it (web-download); its address filters apply."), button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      const img = await createImage(form);
      await request("POST", `${imagePath(img.id)}/import`,
        { json: { method: { name: "web-download", uri: uri.value } } });
      flash("Import started; its task shows on the image page.", "ok");
      go(`#/image/${encodeURIComponent(img.id)}`);
    } catch (err) {
      flash(`Import failed: ${err.message}`, "error");
      button.disabled = false;
    }
  });
  replaceMain(h("p", { class: "crumbs" }, h("a", { href: "#/images" }, "Images"), " / Import"),
    h("h1", {}, "Import an image by URL"), form);
}

async function waitFor(id, statuses, seconds = 600) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const img = await get(imagePath(id));
    if (statuses.includes(img.status)) return img;
    if (img.status === "killed" || img.status === "deleted") {
      throw new ApiError(0, `the image ended ${img.status}`);
    }
    if (Date.now() > deadline) throw new ApiError(0, `still ${img.status}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
