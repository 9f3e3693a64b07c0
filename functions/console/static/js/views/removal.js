// Removal (bulk disassociate): upload the LTI Pro import CSV as a dry run, read the preview, confirm, watch it
// run, download rows.csv and retry.csv, re-drive the failed rows.
import { get, post, upload } from "../api.js";
import { announce, count, facts, h, progress, replace, when } from "../dom.js";
import { FINISHED, badge, downloads, filePicker, follow, heading, jobPage, labelled, problemBox, rowsTable as shared, safeFileName } from "./common.js";

export async function renderRemoval(main, _params, context) {
  const title = heading("Removal");
  const { input, field } = filePicker("CSV file", "The file you imported into LTI Pro: Meeting ID, Context ID, Domain (and the course ID). Nothing is removed until you confirm the preview.");
  const userId = h("input", { type: "text", autocomplete: "off", maxlength: "128" });
  const submit = h("button", { type: "submit", class: "primary" }, "Upload and preview");
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-label": "Upload a CSV to remove" }, field, labelled("Zoom admin user ID (optional)", userId, "Sent as the userId of each request; leave empty for the stored default."), submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return;
    submit.disabled = true;
    replace(status, progress("Uploading", 0, 0, `Uploading ${file.name}…`));
    try {
      const body = { fileName: safeFileName(file.name), dryRun: true };
      if (userId.value.trim()) body.userId = userId.value.trim();
      const created = await post("/disassociate-jobs", body);
      await upload(created.upload, file);
      announce("Uploaded; the preview is being prepared.");
      context.go(`#/jobs/${created.jobId}`);
    } catch (error) {
      replace(status, problemBox(error));
      submit.disabled = false;
    }
  });
  replace(main, title, h("p", {}, "Remove meetings from their LMS courses in bulk. First a dry run shows what would be sent."), form);
  return title;
}

const field = (row) => row.field || (/^(?:line \d+: )?([a-z_]+): /.exec(row.reason || "") || [])[1] || "–";
const ROW_COLUMNS = [
  ["Line", (row) => row.line],
  ["Field", field],
  ["Reason", (row) => row.reason || "–"],
  ["Meeting ID", (row) => row.meeting_id],
  ["Context ID", (row) => row.context_id],
  ["Domain", (row) => row.domain],
];
const SENT_COLUMNS = [ROW_COLUMNS[0], ROW_COLUMNS[3], ROW_COLUMNS[4], ROW_COLUMNS[5], ["Course", (row) => row.course_id || "–"]];

const rowsTable = (jobId, status, caption, columns) => shared(`/disassociate-jobs/${jobId}/rows?status=${status}`, caption, columns);

function runProgress(job) {
  const p = job.progress;
  const done = p.sent + p.planned + p.rejected + p.duplicates + p.failed;
  if (FINISHED.has(job.state)) return progress("Progress", 1, 1, `Finished: ${count(done)} of ${count(p.total_rows)} rows accounted for.`);
  if (job.state === "queued") return progress("Progress", 0, 0, "Waiting for the file to arrive…");
  const verb = job.dryRun ? "planned" : "sent";
  const text = `${count(done)} rows read, ${count(job.dryRun ? p.planned : p.sent)} ${verb}, batch ${count(p.batches)}${p.batchesTotal ? ` of ${count(p.batchesTotal)}` : ""}.`;
  return p.batchesTotal ? progress("Progress", p.batches, p.batchesTotal, text) : progress("Progress", 0, 0, text);
}

function countsOf(job) {
  const p = job.progress;
  return facts(
    [
      ["Rows", count(p.total_rows)],
      [job.dryRun ? "Would be sent" : "Sent", count(job.dryRun ? p.planned : p.sent)],
      ["Rejected", count(p.rejected)],
      ["Duplicates", count(p.duplicates)],
      ["Failed", count(p.failed)],
      [job.dryRun ? "Requests it would make" : "Batches", count(p.batches)],
    ],
    "Counts",
  );
}

async function action(button, box, context, call) {
  button.disabled = true;
  try {
    const created = await call();
    context.go(`#/jobs/${created.jobId}`);
  } catch (error) {
    replace(box, problemBox(error));
    button.disabled = false;
  }
}

async function preview(job, context) {
  const p = job.progress;
  const box = h("div", { "aria-live": "polite" });
  const confirm = h("button", { type: "button", class: "primary", disabled: p.planned === 0 }, `Remove ${count(p.planned)} meeting${p.planned === 1 ? "" : "s"} now`);
  confirm.addEventListener("click", () => action(confirm, box, context, () => post(`/disassociate-jobs/${job.jobId}/confirm`)));
  const parts = [
    h("h2", {}, "Preview"),
    h("p", {}, `A dry run: nothing was sent. Confirming sends ${count(p.planned)} meeting${p.planned === 1 ? "" : "s"} in ${count(p.batches)} request${p.batches === 1 ? "" : "s"}; rejected and duplicate rows are left out.`),
    await rowsTable(job.jobId, "rejected", "Rejected rows", ROW_COLUMNS),
    await rowsTable(job.jobId, "duplicate", "Duplicate rows", ROW_COLUMNS),
    await rowsTable(job.jobId, "planned", "What would be sent", SENT_COLUMNS),
    job.confirmable === false
      ? h("p", { class: "notice" }, "This dry run's file was dropped in the bucket: drop it under incoming/ to remove these meetings.")
      : h("div", { class: "actions" }, confirm),
    box,
    downloads(job.results, ["rows.csv", "requests.jsonl", "summary.json"]),
  ];
  return h("section", { class: "card", "aria-label": "Preview" }, parts);
}

async function outcome(job, context) {
  const parts = [downloads(job.results, ["rows.csv", "retry.csv", "summary.json", "requests.jsonl"])];
  if (job.progress.failed > 0) {
    const box = h("div", { "aria-live": "polite" });
    const redrive = h("button", { type: "button", class: "primary" }, `Re-drive ${count(job.progress.failed)} failed row${job.progress.failed === 1 ? "" : "s"}`);
    redrive.addEventListener("click", () => action(redrive, box, context, () => post(`/disassociate-jobs/${job.jobId}/redrive`)));
    parts.push(await rowsTable(job.jobId, "failed", "Failed rows", ROW_COLUMNS), h("div", { class: "actions" }, redrive), box);
  }
  if (job.progress.rejected > 0) parts.push(await rowsTable(job.jobId, "rejected", "Rejected rows", ROW_COLUMNS));
  return parts;
}

export async function renderRemovalJob(main, jobId, context) {
  return jobPage(main, "Removal job", watch);

  async function watch({ head, live, after }) {
    const job = await follow(
      context,
      () => get(`/disassociate-jobs/${jobId}`),
      (answer, error) => {
        if (error) return replace(live, problemBox(error));
        replace(head, h("p", {}, h("span", { class: "mono" }, answer.jobId), " ", badge(answer.state), answer.dryRun ? h("span", { class: "tag" }, "dry run") : "", " ", answer.file || ""));
        replace(live, runProgress(answer), countsOf(answer), facts([["Created", when(answer.timings.created_at)], ["Finished", when(answer.timings.finished_at)]], "Times"));
        if (answer.refused) live.append(h("p", { class: "error", role: "alert" }, `The file was refused: ${answer.refused}`));
      },
      (answer) => FINISHED.has(answer.state),
    );
    if (!job || !context.alive()) return;
    announce(`Job ${job.state.replace(/_/g, " ")}.`);
    if (job.dryRun && job.state !== "rejected" && job.state !== "failed") after.append(await preview(job, context));
    else after.append(...(await outcome(job, context)).filter(Boolean));
  }
}
