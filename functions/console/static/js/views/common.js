// Pieces the job pages share: state badges, polling, problem messages, downloads, file pickers.
import { ApiProblem, get, missingRoute } from "../api.js";
import { count, h, replace, safeHref, table } from "../dom.js";

export const FINISHED = new Set(["succeeded", "partially_failed", "rejected", "failed"]);
export const STATES = ["queued", "running", "succeeded", "partially_failed", "rejected", "failed"];

export const stateLabel = (state) => String(state || "unknown").replace(/_/g, " ");

export function badge(state) {
  return h("span", { class: `badge state-${String(state).replace(/[^a-z_]/g, "")}` }, stateLabel(state));
}

export function heading(text) {
  return h("h1", { tabindex: "-1" }, text);
}

/** A problem from the API as the user should read it: title, detail and each field's problem. */
export function problemBox(error) {
  const box = h("div", { class: "error", role: "alert" });
  if (error instanceof ApiProblem) {
    box.append(h("p", {}, h("strong", {}, error.title), error.detail ? `: ${error.detail}` : ""));
    if (error.errors.length) box.append(h("ul", {}, error.errors.map((e) => h("li", {}, `${e.field}: ${e.problem}`))));
  } else {
    box.append(h("p", {}, String(error?.message || error)));
  }
  return box;
}

/** Calls load() every second until done(answer) says so or the page is left; show(answer) after each. */
export async function follow(context, load, show, done, interval = 1000) {
  for (;;) {
    let answer;
    try {
      answer = await load();
    } catch (error) {
      if (context.alive()) show(null, error);
      return null;
    }
    if (!context.alive()) return null;
    show(answer, null);
    if (done(answer)) return answer;
    await new Promise((resolve) => setTimeout(resolve, interval));
    if (!context.alive()) return null;
  }
}

/** Download links for a job's result files (presigned, short-lived). */
export function downloads(results, order = []) {
  if (!results || typeof results !== "object") return null;
  const names = [...order.filter((n) => n in results), ...Object.keys(results).filter((n) => !order.includes(n)).sort()];
  return h(
    "section",
    { class: "downloads", "aria-label": "Result files" },
    h("h2", {}, "Result files"),
    h("ul", {}, names.map((name) => h("li", {}, h("a", { href: safeHref(results[name]), download: name, rel: "noopener" }, `Download ${name}`)))),
    h("p", { class: "hint" }, "Links work for 15 minutes; reload the page for new ones."),
  );
}

let nextId = 0;
/** A labelled file input for CSV files. */
export function filePicker(label, hint) {
  const id = `file${++nextId}`;
  const input = h("input", { id, type: "file", accept: ".csv,text/csv", required: true, "aria-describedby": `${id}-hint` });
  return { input, field: h("div", { class: "field" }, h("label", { for: id }, label), input, h("p", { class: "hint", id: `${id}-hint` }, hint)) };
}

export function labelled(label, control, hint) {
  const id = control.id || `c${++nextId}`;
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    control.setAttribute("aria-describedby", `${id}-hint`);
    parts.push(h("p", { class: "hint", id: `${id}-hint` }, hint));
  }
  return h("div", { class: "field" }, parts);
}

export const safeFileName = (name) => String(name).replace(/[^A-Za-z0-9._-]/g, "_").slice(-100) || "upload.csv";

/** A table of a finished job's rows (``rows`` names their route and status: the first 100), or a note when
 * the API cannot list them. */
export async function rowsTable(rows, caption, columns) {
  try {
    const answer = await get(`${rows}&limit=100&offset=0`);
    if (!answer.total) return null;
    const shown = answer.rows.length < answer.total ? ` (first ${answer.rows.length} of ${count(answer.total)})` : "";
    return table(`${caption}${shown}`, columns, answer.rows);
  } catch (error) {
    return missingRoute(error) ? h("p", { class: "notice" }, `${caption}: listing rows is not available on this API yet (see rows.csv).`) : problemBox(error);
  }
}

/** A job's page: its heading, a head line, the part rewritten while the job runs (not a live region: the
 * outcome is announced once) and what comes after; ``watch({ head, live, after })`` follows the job in the
 * background, so the page is usable at once. */
export function jobPage(main, name, watch) {
  const title = heading(name);
  const parts = { head: h("div", { class: "job-head" }), live: h("div"), after: h("div") };
  replace(main, title, parts.head, parts.live, parts.after);
  watch(parts);
  return title;
}
