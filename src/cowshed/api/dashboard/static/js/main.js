// Hash router: #/page/arg?query. Each page renders into <main> from API answers.

import { get, session } from "./api.js";
import { clear, flash, h, replaceMain } from "./dom.js";
import { imageDetail, imageList, importPage, uploadPage } from "./images.js";
import { lineagePage } from "./lineage.js";
import { loginPage, storesPage, tasksPage } from "./misc.js";
import { snapshotList, volumeCreate, volumeDetail, volumeList } from "./volumes.js";

const PAGES = {
  images: imageList,
  image: imageDetail,
  upload: uploadPage,
  import: importPage,
  tasks: tasksPage,
  stores: storesPage,
  volumes: volumeList,
  volume: volumeDetail,
  "new-volume": volumeCreate,
  snapshots: snapshotList,
  lineage: lineagePage,
  login: loginPage,
};

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [page, ...rest] = path.split("/").map(decodeURIComponent);
  return { page: page || "images", arg: rest.join("/"), params: new URLSearchParams(query) };
}

let current = 0;

async function route() {
  const { page, arg, params } = parseHash();
  const render = PAGES[page];
  const ticket = ++current;
  if (session.needsLogin && page !== "login") {
    location.hash = `#/login?next=${encodeURIComponent(location.hash || "#/images")}`;
    return;
  }
  markNav(page);
  renderWho();
  if (!render) {
    replaceMain(h("h1", {}, "Not found"), h("p", {}, "No such page. "),
      h("a", { href: "#/images" }, "Back to images"));
    return;
  }
  try {
    await render(arg, params, () => ticket === current);
  } catch (err) {
    if (ticket !== current) return;
    replaceMain(h("h1", {}, "Something went wrong"),
      h("p", { class: "error", role: "alert" }, err.message || String(err)),
      h("p", {}, h("a", { href: "#/images" }, "Back to images")));
  }
  if (ticket === current) {
    document.getElementById("main").focus({ preventScroll: true });
    // a fresh value per finished render: lets tests (and people) tell that a page is done
    document.body.dataset.rendered = `${Date.now()}-${ticket}`;
  }
}

function markNav(page) {
  const section = { image: "images", upload: "images", import: "images", volume: "volumes",
    "new-volume": "volumes", lineage: "volumes" }[page] || page;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${section}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const volumes = Boolean(session.config && session.config.volume_api);
  for (const link of document.querySelectorAll('#nav a[href="#/volumes"], #nav a[href="#/snapshots"]')) {
    link.parentElement.hidden = !volumes;
  }
}

function renderWho() {
  const who = clear(document.getElementById("who"));
  if (session.config.auth_strategy === "noauth") {
    who.append(h("span", { class: "muted" }, "no authentication (development mode)"));
    return;
  }
  if (!session.token) return;
  who.append(h("span", {}, `${session.user} · ${session.projectName}`), " ",
    h("button", { type: "button", class: "link", onclick: () => {
      session.clear();
      go("#/login");
    } }, "Log out"));
}

async function start() {
  session.load();
  try {
    session.config = await get("config.json");
  } catch (err) {
    replaceMain(h("p", { class: "error", role: "alert" }, `The dashboard could not start: ${err.message}`));
    return;
  }
  window.addEventListener("hashchange", route);
  window.addEventListener("cowshed:logout", () => {
    flash("Your session ended; please log in again.", "error");
    go("#/login");
  });
  await route();
}

start();
