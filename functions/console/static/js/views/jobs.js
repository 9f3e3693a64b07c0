// Jobs: every job of every kind, newest first, filtered by kind and state; a job's own page by its kind.
import { get, missingRoute } from "../api.js";
import { count, h, replace, table, when } from "../dom.js";
import { STATES, badge, heading, labelled, problemBox, stateLabel } from "./common.js";
import { renderRemovalJob } from "./removal.js";
import { renderReportJob } from "./reports.js";
import { renderProvisionJob } from "./provisioning.js";

const KINDS = [
  ["", "All kinds"],
  ["disassociate", "Removal"],
  ["report", "Report"],
  ["provision", "Provisioning"],
];

function countsText(counts) {
  const parts = Object.entries(counts || {})
    .filter(([, value]) => Number(value) > 0)
    .map(([name, value]) => `${count(value)} ${name.replace(/_/g, " ")}`);
  return parts.length ? parts.join(" · ") : "–";
}

export async function renderJobs(main, _params, context) {
  const kind = h("select", {}, KINDS.map(([value, label]) => h("option", { value }, label)));
  const state = h("select", {}, h("option", { value: "" }, "All states"), STATES.map((s) => h("option", { value: s }, stateLabel(s))));
  const list = h("div", { class: "job-list", "aria-live": "polite" });
  const form = h("form", { class: "filters", "aria-label": "Filter jobs" }, labelled("Kind", kind), labelled("State", state), h("button", { type: "submit" }, "Show"));
  const title = heading("Jobs");
  replace(main, title, h("p", {}, "Every removal, report and provisioning job, newest first."), form, list);

  let jobs = [];
  async function load(next) {
    const query = new URLSearchParams({ limit: "50" });
    if (kind.value) query.set("kind", kind.value);
    if (state.value) query.set("state", state.value);
    if (next) query.set("next", next);
    try {
      const answer = await get(`/jobs?${query}`);
      if (!context.alive()) return;
      jobs = next ? jobs.concat(answer.jobs) : answer.jobs;
      show(answer.next);
    } catch (error) {
      if (!context.alive()) return;
      replace(list, missingRoute(error) ? h("p", { class: "notice" }, "The jobs list is not available on this API yet.") : problemBox(error));
    }
  }
  function show(next) {
    const rows = jobs.length
      ? table(
          `${jobs.length} job${jobs.length === 1 ? "" : "s"}`,
          [
            ["Job", (job) => h("a", { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, job.jobId)],
            ["Kind", (job) => (KINDS.find(([value]) => value === job.kind) || [null, job.kind])[1]],
            ["State", (job) => badge(job.state)],
            ["File", (job) => [job.file || "–", job.dryRun ? h("span", { class: "tag" }, "dry run") : ""]],
            ["Created", (job) => when(job.createdAt)],
            ["Finished", (job) => when(job.finishedAt)],
            ["Counts", (job) => countsText(job.counts)],
          ],
          jobs,
        )
      : h("p", {}, "No jobs match.");
    const more = next ? h("button", { type: "button", onclick: () => load(next) }, "Load more") : null;
    replace(list, rows, more);
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  kind.addEventListener("change", () => load());
  state.addEventListener("change", () => load());
  await load();
  return title;
}

export async function renderJob(main, [jobId], context) {
  const id = decodeURIComponent(jobId);
  if (id.startsWith("dis-")) return renderRemovalJob(main, id, context);
  if (id.startsWith("rep-")) return renderReportJob(main, id, context);
  return renderProvisionJob(main, id, context);
}
