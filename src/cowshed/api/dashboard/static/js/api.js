// The public APIs, called with the user's token. Errors come back as ApiError with the
// message the API put in its body (Glance, Cinder and Keystone shapes), never a stack trace.

const TOKEN_KEY = "cowshed.session";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  config: null,
  token: null,
  user: null,
  project: null,
  projectName: null,
  roles: [],
  expires: null,

  load() {
    const raw = sessionStorage.getItem(TOKEN_KEY);
    if (!raw) return;
    try {
      Object.assign(this, JSON.parse(raw));
    } catch {
      sessionStorage.removeItem(TOKEN_KEY);
    }
  },
  save() {
    const { token, user, project, projectName, roles, expires } = this;
    sessionStorage.setItem(TOKEN_KEY,
      JSON.stringify({ token, user, project, projectName, roles, expires }));
  },
  clear() {
    this.token = this.user = this.project = this.projectName = this.expires = null;
    this.roles = [];
    sessionStorage.removeItem(TOKEN_KEY);
  },
  get needsLogin() {
    const strategy = this.config && this.config.auth_strategy;
    if (strategy === "noauth" || !strategy) return false;
    return !this.token || (this.expires && Date.parse(this.expires) < Date.now());
  },
  get isAdmin() {
    return this.config.auth_strategy === "noauth" || this.roles.includes("admin");
  },
  get projectId() {
    return this.project || this.config.default_project;
  },
};

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  if (session.token) out["X-Auth-Token"] = session.token;
  return out;
}

export function errorMessage(status, text) {
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // webob's plain-text form: "404 Not Found\n\n<message>\n\n   "
    const parts = String(text || "").split("\n\n");
    const msg = (parts.length > 1 ? parts[1] : parts[0]).trim();
    return msg || `The server answered ${status}.`;
  }
  if (body && typeof body === "object") {
    if (typeof body.message === "string") return body.message;
    if (body.error && typeof body.error.message === "string") return body.error.message;
    for (const value of Object.values(body)) {
      if (value && typeof value === "object" && typeof value.message === "string") {
        return value.message;
      }
    }
  }
  return `The server answered ${status}.`;
}

export async function request(method, url, { json, body, contentType, raw } = {}) {
  const extra = {};
  let payload = body;
  if (json !== undefined) {
    extra["Content-Type"] = contentType || "application/json";
    payload = JSON.stringify(json);
  }
  const response = await fetch(url, { method, headers: headers(extra), body: payload });
  if (response.status === 401 && session.config && session.config.auth_strategy !== "noauth") {
    session.clear();
    window.dispatchEvent(new Event("cowshed:logout"));
  }
  if (!response.ok) {
    throw new ApiError(response.status, errorMessage(response.status, await response.text()));
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (url) => request("GET", url);

export function patchImage(id, ops) {
  return request("PATCH", `/v2/images/${encodeURIComponent(id)}`,
    { json: ops, contentType: "application/openstack-images-v2.1-json-patch" });
}

// PUT the file with upload progress (fetch has none). Resolves on 2xx, rejects with ApiError.
export function uploadFile(url, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [k, v] of Object.entries(headers({ "Content-Type": "application/octet-stream" }))) {
      xhr.setRequestHeader(k, v);
    }
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) onProgress(ev.loaded, ev.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new ApiError(xhr.status, errorMessage(xhr.status, xhr.responseText)));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "The upload was interrupted.")));
    xhr.send(file);
  });
}

export function volumeUrl(path) {
  return `${session.config.volume_api}/${encodeURIComponent(session.projectId)}${path}`;
}

export async function login(username, password, project) {
  const identity = session.config.identity_api;
  const scope = { project: { name: project, domain: { id: "default" } } };
  const body = {
    auth: {
      identity: {
        methods: ["password"],
        password: { user: { name: username, password, domain: { id: "default" } } },
      },
      scope,
    },
  };
  const response = await fetch(`${identity}/auth/tokens`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, text));
  const token = JSON.parse(text).token;
  session.token = response.headers.get("X-Subject-Token");
  session.user = token.user && token.user.name;
  session.project = token.project && token.project.id;
  session.projectName = token.project && token.project.name;
  session.roles = (token.roles || []).map((r) => r.name);
  session.expires = token.expires_at;
  session.save();
}
