// Provisioning: upload a course-meetings CSV, preview, run, download the LTI import files and the removal file.
import { get, missingRoute, post, upload } from "../api.js";
import { announce, count, facts, h, progress, replace, when } from "../dom.js";
import { FINISHED, badge, downloads, filePicker, follow, heading, jobPage, labelled, problemBox, rowsTable, safeFileName } from "./common.js";

const options = (pairs) => pairs.map(([value, label]) => h("option", { value }, label));

export async function renderProvisioning(main, _params, context) {
  const title = heading("Provisioning");
  const { input, field } = filePicker("Course-meetings CSV", "One row per course meeting. Nothing is created until you confirm the preview.");
  const provider = h("select", {}, options([["zoom", "Zoom"], ["webmeeting", "Web Meeting"], ["luminus", "LumiNUS"]]));
  const associate = h("select", {}, options([["csv", "Write LTI import files"], ["api", "Associate through LTI Pro"], ["none", "Do not associate"]]));
  const userId = h("input", { type: "text", autocomplete: "off", maxlength: "128" });
  // LTI Pro holds Zoom meetings only: the other platforms' meetings are not associated with courses.
  provider.addEventListener("change", () => {
    const zoom = provider.value === "zoom";
    associate.disabled = userId.disabled = !zoom;
    if (!zoom) associate.value = "none";
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Upload and preview");
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-label": "Upload a course-meetings CSV" }, field, labelled("Platform", provider), labelled("Course association", associate), labelled("LTI Pro admin user ID (import API only, optional)", userId), submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    submit.disabled = true;
    replace(status, progress("Uploading", 0, 0, `Uploading ${file.name}…`));
    try {
      const body = { fileName: safeFileName(file.name), dryRun: true, provider: provider.value, associate: associate.value };
      if (provider.value === "zoom" && userId.value.trim()) body.userId = userId.value.trim();
      const created = await post("/provision-jobs", body);
      await upload(created.upload, file);
      context.go(`#/jobs/${created.jobId}`);
    } catch (error) {
      replace(status, missingRoute(error) ? h("p", { class: "notice" }, "Provisioning is not available on this API yet.") : problemBox(error));
      submit.disabled = false;
    }
  });
  replace(main, title, h("p", {}, "Create the term's course meetings from one CSV: a dry run first, then the real run."), form);
  return title;
}

// A rejection reads "line 5: Start: must be ...": the column is the part before the second colon.
const column = (row) => (/^(?:line \d+: )?([^:]+): /.exec(row.reason || "") || [])[1] || "–";
const REJECTED_COLUMNS = [["Line", (row) => row.line], ["Column", column], ["Reason", (row) => row.reason || "–"], ["Key", (row) => row.key || "–"]];
const PLANNED_COLUMNS = [["Line", (row) => row.line], ["Key", (row) => row.key], ["Association", (row) => row.association || "–"], ["Note", (row) => row.reason || "–"]];

const NAMES = ["total_rows", "created", "updated", "unchanged", "planned", "deferred", "rejected", "failed"];

export async function renderProvisionJob(main, jobId, context) {
  return jobPage(main, "Provisioning job", watch);

  async function watch({ head, live, after }) {
    const job = await follow(
      context,
      () => get(`/provision-jobs/${jobId}`),
      (answer, error) => {
        if (error) return replace(live, problemBox(error));
        const p = answer.progress || {};
        const handled = NAMES.slice(1).reduce((sum, name) => sum + Number(p[name] || 0), 0);
        replace(head, h("p", {}, h("span", { class: "mono" }, answer.jobId), " ", badge(answer.state), answer.dryRun ? h("span", { class: "tag" }, "dry run") : ""));
        const bar = FINISHED.has(answer.state) ? progress("Progress", 1, 1, `Finished: ${count(handled)} rows handled.`) : progress("Progress", handled, p.total_rows || 0, `${count(handled)} of ${count(p.total_rows)} rows handled.`);
        replace(live, bar, facts(NAMES.map((name) => [name.replace(/_/g, " "), count(p[name] || 0)]), "Counts"));
        if (answer.resumeAfter) live.append(h("p", { class: "notice" }, `Waiting for the hosts' daily allowance (100 meetings a host a day): resumes after ${when(answer.resumeAfter)}.`));
      },
      (answer) => FINISHED.has(answer.state),
    );
    if (!job || !context.alive()) return;
    announce(`Job ${job.state.replace(/_/g, " ")}.`);
    if (job.dryRun && job.state !== "rejected" && job.state !== "failed") {
      const box = h("div", { "aria-live": "polite" });
      const confirm = h("button", { type: "button", class: "primary", disabled: !(job.progress || {}).planned }, "Create the meetings now");
      confirm.addEventListener("click", async () => {
        confirm.disabled = true;
        try {
          const created = await post(`/provision-jobs/${job.jobId}/confirm`);
          context.go(`#/jobs/${created.jobId}`);
        } catch (error) {
          replace(box, problemBox(error));
          confirm.disabled = false;
        }
      });
      const p = job.progress || {};
      const rows = (status) => `/provision-jobs/${job.jobId}/rows?status=${status}`;
      after.append(
        h(
          "section",
          { class: "card", "aria-label": "Preview" },
          h("h2", {}, "Preview"),
          h("p", {}, `A dry run: nothing was created. Confirming creates or updates ${count(p.planned)} meeting${p.planned === 1 ? "" : "s"}; rejected rows are left out (fix them in the file and upload it again).`),
          await rowsTable(rows("rejected"), "Rejected rows", REJECTED_COLUMNS),
          await rowsTable(rows("planned"), "What would be created or updated", PLANNED_COLUMNS),
          job.confirmable === false
            ? h("p", { class: "notice" }, "This dry run's file was dropped in the bucket: drop it under provision/ to create these meetings.")
            : h("div", { class: "actions" }, confirm),
          box,
        ),
      );
    }
    const imports = Object.keys(job.results || {}).filter((name) => name.startsWith("lti-import-")).sort();
    const files = downloads(job.results, [...imports, "removal.csv", "rows.csv", "retry.csv", "summary.json"]);
    if (files) after.append(files);
  }
}
