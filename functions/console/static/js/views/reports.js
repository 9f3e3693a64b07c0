// Reports: participants and registrants of past meetings, by meeting IDs, by an LTI import CSV, or by users and
// dates; follow the run; download the attendance files.
import { get, post, upload } from "../api.js";
import { announce, count, facts, h, replace, progress, when } from "../dom.js";
import { FINISHED, badge, downloads, filePicker, follow, heading, jobPage, labelled, problemBox } from "./common.js";

const words = (text) => text.split(/[\s,;]+/).map((w) => w.trim()).filter(Boolean);

function choice(name, value, label, checked) {
  const id = `by-${value}`;
  return h("div", { class: "choice" }, h("input", { type: "radio", name, value, id, checked }), h("label", { for: id }, label));
}

export async function renderReports(main, _params, context) {
  const title = heading("Reports");
  const meetings = h("textarea", { rows: "3", spellcheck: "false" });
  const { input: csv, field: csvField } = filePicker("LTI import CSV", "The meetings of the file (its Meeting ID column).");
  csv.required = false; // only one of the three ways is filled in: checked on submit
  const users = h("textarea", { rows: "3", spellcheck: "false" });
  const from = h("input", { type: "date" });
  const to = h("input", { type: "date" });
  const panels = {
    meetings: h("div", {}, labelled("Meeting IDs", meetings, "Separated by spaces, commas or new lines, e.g. 81234567890.")),
    csv: h("div", { hidden: true }, csvField),
    users: h("div", { hidden: true }, labelled("Users (emails)", users, "Zoom users whose meetings to report on."), h("div", { class: "row" }, labelled("From", from), labelled("To", to))),
  };
  const by = h("fieldset", {}, h("legend", {}, "Request by"), choice("by", "meetings", "Meeting IDs", true), choice("by", "csv", "An LTI import CSV", false), choice("by", "users", "Users and dates", false));
  const status = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "Request report");
  const form = h("form", { class: "card", "aria-label": "Request a report" }, by, panels.meetings, panels.csv, panels.users, submit, status);
  const selected = () => form.querySelector("input[name=by]:checked").value;
  by.addEventListener("change", () => {
    for (const [name, panel] of Object.entries(panels)) panel.hidden = name !== selected();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(status);
    try {
      let created;
      if (selected() === "meetings") created = await post("/report-jobs", { meetingIds: words(meetings.value).map((m) => m.replace(/\s/g, "")) });
      else if (selected() === "users") {
        const body = { users: words(users.value) };
        if (from.value) body.from = from.value;
        if (to.value) body.to = to.value;
        created = await post("/report-jobs", body);
      } else {
        if (!csv.files[0]) throw new Error("Choose the CSV file first.");
        created = await post("/report-jobs", { csvUpload: true });
        await upload(created.upload, csv.files[0]);
        await post(`/report-jobs/${created.jobId}/start`);
      }
      context.go(`#/jobs/${created.jobId}`);
    } catch (error) {
      replace(status, problemBox(error));
      submit.disabled = false;
    }
  });
  replace(main, title, h("p", {}, "Who joined which past meeting, and for how long: attendance.csv per participant, instances.csv per meeting instance."), form);
  return title;
}

function reportProgress(job) {
  const p = job.progress;
  const handled = p.instances_written + p.skipped_done + p.skipped_recent + p.failed;
  const text = `${count(p.meetings)} meetings, ${count(handled)} of ${count(p.instances)} instances handled, ${count(p.rows_written)} participant rows written.`;
  if (FINISHED.has(job.state)) return progress("Progress", 1, 1, `Finished: ${text}`);
  if (job.state === "queued") return progress("Progress", 0, 0, job.resumeAfter ? `Paused by Zoom's daily limit until ${when(job.resumeAfter)}.` : "Waiting to start…");
  return p.instances ? progress("Progress", handled, p.instances, text) : progress("Progress", 0, 0, text);
}

export async function renderReportJob(main, jobId, context) {
  return jobPage(main, "Report job", watch);

  async function watch({ head, live, after }) {
    const job = await follow(
      context,
      () => get(`/report-jobs/${jobId}`),
      (answer, error) => {
        if (error) return replace(live, problemBox(error));
        const p = answer.progress;
        replace(head, h("p", {}, h("span", { class: "mono" }, answer.jobId), " ", badge(answer.state)));
        replace(
          live,
          reportProgress(answer),
          facts(
            [
              ["Meetings", count(p.meetings)],
              ["Instances", count(p.instances)],
              ["Instances written", count(p.instances_written)],
              ["Participant rows", count(p.rows_written)],
              ["Registrant rows", count(p.registrants_written)],
              ["Skipped (done before)", count(p.skipped_done)],
              ["Skipped (too recent)", count(p.skipped_recent)],
              ["Failed", count(p.failed)],
            ],
            "Counts",
          ),
          facts([["Created", when(answer.timings.created_at)], ["Finished", when(answer.timings.finished_at)]], "Times"),
        );
        if (answer.refused) live.append(h("p", { class: "error", role: "alert" }, `Refused: ${answer.refused}`));
        if (answer.stopped) live.append(h("p", { class: "notice" }, `Stopped: ${answer.stopped}${answer.resumeAfter ? `; resumes after ${when(answer.resumeAfter)}` : ""}`));
      },
      (answer) => FINISHED.has(answer.state),
    );
    if (!job || !context.alive()) return;
    announce(`Report ${job.state.replace(/_/g, " ")}.`);
    const files = job.files || (typeof job.results === "object" ? job.results : null);
    if (files) after.append(downloads(files, ["attendance.csv", "instances.csv", "summary.json"]));
    else if (job.results) after.append(h("p", {}, "Reports written under ", h("span", { class: "mono" }, String(job.results))));
  }
}
