// Login, tasks and stores.

import { ApiError, get, login, session } from "./api.js";
import { field, flash, fmtSize, fmtTime, h, replaceMain, statusBadge } from "./dom.js";
import { go } from "./main.js";

export async function loginPage(_arg, params) {
  const next = params.get("next") || "#/images";
  if (!session.needsLogin) {
    go(next);
    return;
  }
  if (!session.config.identity_api) {
    replaceMain(h("h1", {}, "Log in"), h("p", {}, "This server validates tokens from an external ",
      "Keystone. Get a token there (openstack token issue) and paste it:"), tokenForm(next));
    return;
  }
  const user = h("input", { name: "username", required: true, autocomplete: "username" });
  const password = h("input", { name: "password", type: "password", required: true,
    autocomplete: "current-password" });
  const project = h("input", { name: "project", required: true, value: "admin" });
  const button = h("button", { type: "submit" }, "Log in");
  const form = h("form", { class: "stack narrow", id: "login-form" }, field("User", user),
    field("Password", password), field("Project", project), button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      await login(user.value, password.value, project.value);
      flash("");
      go(next);
    } catch (err) {
      flash(`Login failed: ${err.message}`, "error");
      button.disabled = false;
      password.select();
    }
  });
  replaceMain(h("h1", {}, "Log in"), form);
  user.focus();
}

function tokenForm(next) {
  const token = h("input", { name: "token", required: true, autocomplete: "off" });
  const form = h("form", { class: "stack narrow" }, field("Token", token),
    h("button", { type: "submit" }, "Use token"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    session.token = token.value.trim();
    session.user = "token";
    session.projectName = "";
    session.save();
    go(next);
  });
  return form;
}

export async function tasksPage(_arg, params, alive) {
  const query = new URLSearchParams({ limit: params.get("limit") || "100", sort_dir: "desc" });
  if (params.get("status")) query.set("status", params.get("status"));
  let tasks;
  try {
    tasks = (await get(`/v2/tasks?${query}`)).tasks;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status >= 500) throw err;
    replaceMain(h("h1", {}, "Tasks"), h("p", { class: "error" }, err.message));
    return;
  }
  // the list leaves out messages (as Glance's does): read them for the tasks that failed
  const failed = tasks.filter((t) => t.status === "failure" && !t.message).slice(0, 50);
  const details = await Promise.all(failed.map((t) =>
    get(`/v2/tasks/${encodeURIComponent(t.id)}`).catch(() => t)));
  const byId = new Map(details.map((t) => [t.id, t]));
  tasks = tasks.map((t) => byId.get(t.id) || t);
  if (!alive()) return;
  replaceMain(h("h1", {}, "Tasks"),
    tasks.length ? h("div", { class: "table-wrap" }, h("table", { id: "task-table" },
      h("thead", {}, h("tr", {}, ["Task", "Type", "Status", "Image", "Message", "Updated"]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, tasks.map((t) => {
        const image = (t.result && t.result.image_id) || (t.input && t.input.image_id) || t.image_id;
        return h("tr", {}, h("td", { class: "mono" }, t.id), h("td", {}, t.type),
          h("td", {}, statusBadge(t.status)),
          h("td", {}, image ? h("a", { href: `#/image/${encodeURIComponent(image)}`, class: "mono" },
            image.slice(0, 8)) : "—"),
          h("td", {}, t.message || "—"), h("td", {}, fmtTime(t.updated_at)));
      }))))
      : h("p", { class: "empty" }, "No tasks."));
}

export async function storesPage(_arg, _params, alive) {
  const stores = (await get("stores.json")).stores;
  if (!alive()) return;
  replaceMain(h("h1", {}, "Stores"), h("div", { class: "cards" }, stores.map((st) => {
    const used = st.total_bytes ? st.total_bytes - st.free_bytes : null;
    const pct = st.total_bytes ? Math.round((used * 100) / st.total_bytes) : null;
    return h("section", { class: "card", "aria-label": `Store ${st.name}` },
      h("h2", {}, st.name, st.is_default ? h("span", { class: "badge" }, "default") : null),
      h("p", { class: "muted" }, `${st.type}${st.description ? ` — ${st.description}` : ""}`),
      pct === null ? h("p", {}, "Capacity: not reported by this backend")
        : [h("meter", { min: 0, max: 100, value: pct, high: 85, "aria-label": `${st.name} used` }),
          h("p", {}, `${fmtSize(used)} used of ${fmtSize(st.total_bytes)} (${pct}%), `,
            `${fmtSize(st.free_bytes)} free`)],
      h("p", {}, `${st.images} image(s), ${fmtSize(st.image_bytes)} of image data`));
  })));
}
