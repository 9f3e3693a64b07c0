// The jobs API under /console/api, with the signed-in user's access token. Errors come back as problem details
// ({title, detail, errors: [{field, problem}]}); older answers ({message}) read the same way.
import { session, settings } from "./auth.js";

export class ApiProblem extends Error {
  constructor(status, body) {
    const title = body?.title || (status === 401 ? "Signed out" : status === 403 ? "Not allowed" : `Request failed (${status})`);
    const detail = body?.detail || body?.message || "";
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

export let onSignedOut = () => {};
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export async function call(method, path, body) {
  const current = session();
  if (!current) {
    onSignedOut("Your session ended: sign in again.");
    throw new ApiProblem(401, { title: "Signed out", detail: "sign in again" });
  }
  const headers = { Authorization: `Bearer ${current.accessToken}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(`${settings().apiBase}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const type = answer.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await answer.json().catch(() => null) : null;
  if (answer.status === 401) onSignedOut("Your session ended: sign in again.");
  if (!answer.ok) throw new ApiProblem(answer.status, data);
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);

/** PUT the file to the presigned upload the API handed out. */
export async function upload(target, file) {
  const answer = await fetch(target.url, { method: target.method || "PUT", headers: target.headers || {}, body: file });
  if (!answer.ok) throw new ApiProblem(answer.status, { title: "Upload failed", detail: `the bucket answered ${answer.status}` });
}

/** True when the API has no such route yet (a feature of a later release). */
export const missingRoute = (error) => error instanceof ApiProblem && [404, 405].includes(error.status) && /no route/i.test(error.detail);
