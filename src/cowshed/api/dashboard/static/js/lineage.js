// The lineage graph: the copy-on-write tree a volume belongs to, drawn left to right (depth is
// the column), one row per leaf, parents centred on their children. Deleted-but-deferred nodes
// are dashed; a full copy or flattened child hangs on a dotted edge. Selecting a node (click or
// keyboard) tells what depends on it and what deleting it would free now.

import { get, volumeUrl } from "./api.js";
import { clear, dl, h, replaceMain, s } from "./dom.js";

const COL = 220;
const ROW = 46;
const BOX_W = 180;
const BOX_H = 34;

export async function lineagePage(id, _params, alive) {
  const [tree, vols, snaps] = await Promise.all([
    get(volumeUrl(`/volumes/${encodeURIComponent(id)}/lineage`)),
    get(volumeUrl("/volumes/detail?limit=1000")).then((a) => a.volumes, () => []),
    get(volumeUrl("/snapshots/detail?limit=1000")).then((a) => a.snapshots, () => []),
  ]);
  if (!alive()) return;
  const sizes = new Map([...vols, ...snaps].map((r) => [r.id, r.size]));
  const view = lineageView(tree.lineage || tree, sizes, id);
  replaceMain(
    h("p", { class: "crumbs" }, h("a", { href: "#/volumes" }, "Volumes"), " / Lineage"),
    h("h1", {}, "Lineage"), view);
  const focus = document.querySelector("#lineage-graph g.focus");
  if (focus) focus.scrollIntoView({ block: "nearest", inline: "nearest" });
}

// The whole lineage block (summary, legend, graph, node panel, list) for one tree; exported
// so the drawing can be checked on its own with any tree.
export function lineageView(rawTree, sizes, focusId) {
  const root = normalise(rawTree, null, 0, sizes);
  const nodes = [];
  walk(root, (n) => nodes.push(n));
  layout(root);
  const panel = h("aside", { class: "node-panel", "aria-live": "polite" },
    h("p", { class: "muted" }, "Select a node to see what depends on it."));
  const graph = draw(root, nodes, focusId, (n) => describe(panel, n));
  const deferred = nodes.filter((n) => n.hidden).length;
  const start = nodes.find((n) => n.id === focusId);
  if (start) describe(panel, start);
  return h("div", {},
    h("p", { id: "lineage-summary" }, `${nodes.length} nodes, depth ${maxDepth(root)}, `,
      `${deferred} deferred.`),
    legend(),
    h("button", { type: "button", class: "link", "aria-pressed": "false", onclick: (ev) => {
      const wrap = ev.target.parentElement.querySelector(".graph-wrap");
      const fit = wrap.classList.toggle("fit");
      ev.target.setAttribute("aria-pressed", String(fit));
      ev.target.textContent = fit ? "Actual size" : "Fit the whole tree";
    } }, "Fit the whole tree"),
    h("div", { class: "lineage" }, h("div", { class: "graph-wrap" }, graph), panel),
    h("details", {}, h("summary", {}, "The same tree as a list"), listView(root)));
}

function normalise(raw, parent, depth, sizes) {
  const node = {
    id: raw.id, kind: raw.kind, name: raw.name, status: raw.status, hidden: Boolean(raw.hidden),
    independent: Boolean(raw.independent), backend: raw.backend, ref: raw.backend_ref,
    size: sizes.get(raw.id), parent, depth, children: [],
  };
  node.children = (raw.children || []).map((c) => normalise(c, node, depth + 1, sizes));
  return node;
}

function walk(node, fn) {
  fn(node);
  node.children.forEach((c) => walk(c, fn));
}

function maxDepth(node) {
  return node.children.reduce((m, c) => Math.max(m, maxDepth(c)), node.depth);
}

function layout(root) {
  let row = 0;
  const place = (n) => {
    n.x = n.depth * COL;
    if (!n.children.length) {
      n.y = row++ * ROW;
      return;
    }
    n.children.forEach(place);
    n.y = (n.children[0].y + n.children[n.children.length - 1].y) / 2;
  };
  place(root);
}

function label(n) {
  const text = n.name || n.id.slice(0, 8);
  return text.length > 22 ? `${text.slice(0, 21)}…` : text;
}

function draw(root, nodes, focusId, onSelect) {
  const width = (maxDepth(root) + 1) * COL;
  const height = Math.max(...nodes.map((n) => n.y)) + BOX_H + 8;
  const svg = s("svg", { id: "lineage-graph", width, height, viewBox: `-4 -4 ${width} ${height}`,
    role: "group", "aria-label": `Lineage graph with ${nodes.length} nodes` });
  for (const n of nodes) {
    if (!n.parent) continue;
    const x1 = n.parent.x + BOX_W;
    const y1 = n.parent.y + BOX_H / 2;
    const x2 = n.x;
    const y2 = n.y + BOX_H / 2;
    const mid = (x1 + x2) / 2;
    svg.append(s("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
      class: n.independent ? "edge independent" : "edge" }));
  }
  for (const n of nodes) {
    const classes = ["node", `kind-${n.kind}`, n.hidden ? "deferred" : "", n.id === focusId ? "focus" : ""];
    const g = s("g", { class: classes.join(" "), transform: `translate(${n.x},${n.y})`, tabindex: 0,
      role: "button", "data-id": n.id, "data-kind": n.kind, "data-deferred": String(n.hidden),
      "aria-label": `${n.kind} ${n.name || n.id}, ${n.status}${n.hidden ? ", deferred" : ""}` },
    s("title", {}, `${n.kind} ${n.name || ""} ${n.id}`),
    s("rect", { width: BOX_W, height: BOX_H, rx: 6 }),
    s("text", { x: 8, y: 14, class: "kind" }, `${n.kind}${n.hidden ? " · deferred" : ""}`),
    s("text", { x: 8, y: 28, class: "name" }, label(n)));
    const select = () => {
      svg.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
      g.classList.add("selected");
      onSelect(n);
    };
    g.addEventListener("click", select);
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        select();
      }
    });
    svg.append(g);
  }
  return svg;
}

function descendants(n) {
  let count = 0;
  walk(n, () => count++);
  return count - 1;
}

// Deleting n now frees n itself when nothing hangs on it, and then every deferred ancestor
// whose last remaining child it was. Otherwise n is only hidden (deferred) and frees nothing.
function wouldFree(n) {
  if (n.hidden) return { now: [], note: "already deleted; reclaimed when its last dependant goes" };
  if (n.kind === "image") return { now: [], note: "images are deleted in the image service" };
  if (n.children.length) {
    return { now: [], note: `deferred: ${descendants(n)} node(s) still depend on it` };
  }
  const freed = [n];
  let p = n.parent;
  // a deferred parent goes with its last child, and so does the internal clone snapshot
  // between them; a live volume keeps its latest clone snapshot for the next clone to reuse
  while (p && p.children.length === 1) {
    const keep = p.kind === "clone_snapshot" ? !(p.parent && p.parent.hidden) : !p.hidden;
    if (keep) break;
    freed.push(p);
    p = p.parent;
  }
  return { now: freed, note: "" };
}

function describe(panel, n) {
  const free = wouldFree(n);
  const known = free.now.filter((x) => x.size);
  const gib = known.reduce((sum, x) => sum + x.size, 0);
  clear(panel).append(
    h("h2", {}, `${n.kind}: ${n.name || n.id}`),
    dl([["ID", h("span", { class: "mono" }, n.id)], ["Status", n.status],
      ["Depth", String(n.depth)], ["Parent", n.parent ? (n.parent.name || n.parent.id) : "—"],
      ["Depends on parent", n.parent ? (n.independent ? "no (full copy or flattened)" : "yes (copy-on-write)") : "—"],
      ["Dependants", String(descendants(n))], ["Size", n.size ? `${n.size} GiB` : "—"],
      ["Stored in", `${n.backend || "—"} ${n.ref || ""}`],
      ["Deleting it", free.now.length
        ? `frees ${free.now.length} object(s)` + (known.length ? `, up to ${gib} GiB` : "")
          + (free.now.length > 1
          ? ` (with ${free.now.length - 1} deferred or internal ancestor(s))` : "")
        : free.note]]),
    n.kind === "volume" && !n.hidden
      ? h("p", {}, h("a", { href: `#/volume/${encodeURIComponent(n.id)}` }, "Open volume")) : null);
}

function listView(n) {
  return h("ul", { class: "tree" }, h("li", {},
    `${n.kind} ${n.name || n.id} (${n.status}${n.hidden ? ", deferred" : ""}${n.independent ? ", independent" : ""})`,
    n.children.length ? n.children.map(listView) : null));
}

function legend() {
  return h("ul", { class: "legend", "aria-label": "Legend" },
    h("li", {}, h("span", { class: "swatch kind-image" }), "image"),
    h("li", {}, h("span", { class: "swatch kind-volume" }), "volume"),
    h("li", {}, h("span", { class: "swatch kind-snapshot" }), "snapshot"),
    h("li", {}, h("span", { class: "swatch kind-clone_snapshot" }), "clone snapshot (internal, shared by clones)"),
    h("li", {}, h("span", { class: "swatch deferred" }), "deleted, deferred until its dependants go"),
    h("li", {}, h("span", { class: "swatch independent" }), "independent copy (dotted edge)"));
}
