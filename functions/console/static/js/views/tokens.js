// Tokens: each Zoom account's stored token, its remaining life and last refresh; refresh now.
import { get, post } from "../api.js";
import { announce, duration, h, replace, table, when } from "../dom.js";
import { heading, problemBox } from "./common.js";

function life(entry) {
  const seconds = entry.expires_in_seconds;
  if (seconds === null || seconds === undefined) return "no token";
  const meter = h("meter", { min: "0", max: "3600", low: "900", high: "1800", optimum: "3600", value: String(Math.max(0, seconds)), "aria-label": `${entry.account}: token life left` });
  return h("span", { class: "life" }, meter, ` ${duration(seconds)} left`);
}

function tokensTable(entries) {
  return table(
    "Zoom accounts",
    [
      ["Account", (e) => e.account],
      ["Remaining life", life],
      ["Last refresh", (e) => when(e.refreshed_at)],
      ["Last action", (e) => e.action],
      ["Scope", (e) => e.scope || "–"],
      ["Error", (e) => (e.error ? h("span", { class: "error-text" }, e.error) : "–")],
    ],
    entries,
  );
}

export async function renderTokens(main, _params, context) {
  const title = heading("Tokens");
  const list = h("div", { "aria-live": "polite" });
  const status = h("p", { class: "progress-text", role: "status" });
  const refresh = h("button", { type: "button", class: "primary" }, "Refresh now");
  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    refresh.setAttribute("aria-busy", "true");
    replace(status, h("progress", { "aria-label": "Refreshing tokens" }), " Refreshing tokens…");
    try {
      const entries = await post("/tokens/refresh", { force: true });
      if (!context.alive()) return;
      replace(list, tokensTable(entries));
      replace(status, `Refreshed at ${when(new Date().toISOString())}.`);
      announce("Tokens refreshed.");
    } catch (error) {
      replace(status, problemBox(error));
    } finally {
      refresh.disabled = false;
      refresh.removeAttribute("aria-busy");
    }
  });
  replace(main, title, h("p", {}, "Every Zoom API call uses the account's stored token; the schedule refreshes it when less than 30 minutes are left."), h("div", { class: "actions" }, refresh), status, list);
  try {
    const entries = await get("/tokens");
    if (context.alive()) replace(list, tokensTable(entries));
  } catch (error) {
    if (context.alive()) replace(list, problemBox(error));
  }
  return title;
}
