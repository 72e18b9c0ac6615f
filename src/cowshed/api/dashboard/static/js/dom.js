// DOM helpers. User text only ever becomes a Text node or an attribute value: nothing here
// parses markup, so a name like <img src=x onerror=alert(1)> shows as those characters.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(
    tag === "svg" || attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml",
    tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false || key === "svg") continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function s(tag, attrs = {}, ...children) {
  return h(tag, { ...attrs, svg: true }, ...children);
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replaceMain(...children) {
  const main = document.getElementById("main");
  clear(main);
  append(main, children);
  return main;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function fmtSize(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  return iso.replace("T", " ").replace("Z", "").replace(/\.\d+$/, "");
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h("div", { class: "field" },
    h("label", { for: id }, label), input, hint ? h("small", {}, hint) : null);
}

export function select(name, options, value) {
  return h("select", { name },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

export function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  clear(box);
  if (!message) return;
  box.className = `flash ${kind}`;
  box.append(h("span", {}, message),
    h("button", { type: "button", class: "link", "aria-label": "Dismiss",
      onclick: () => flash("") }, "×"));
}

export function statusBadge(status) {
  return h("span", { class: `badge st-${String(status).replace(/[^a-z_-]/gi, "")}` }, status);
}

export function dl(rows) {
  return h("dl", { class: "props" },
    rows.filter(([, v]) => v !== undefined).map(([k, v]) => [
      h("dt", {}, k), h("dd", {}, v === null || v === "" ? "—" : v)]));
}
