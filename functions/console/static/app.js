// The console: sign in, then hash routes (#/jobs, #/removal, #/reports, #/tokens, #/provisioning).
import { finishHostedSignIn, loadConfig, session, signOut } from "./js/auth.js";
import { whenSignedOut } from "./js/api.js";
import { announce, h, replace } from "./js/dom.js";
import { renderSignIn } from "./js/views/signin.js";
import { renderJobs, renderJob } from "./js/views/jobs.js";
import { renderRemoval } from "./js/views/removal.js";
import { renderReports } from "./js/views/reports.js";
import { renderTokens } from "./js/views/tokens.js";
import { renderProvisioning } from "./js/views/provisioning.js";

const ROUTES = [
  [/^#\/jobs\/([A-Za-z0-9_-]+)$/, renderJob, "Job"],
  [/^#\/jobs$/, renderJobs, "Jobs"],
  [/^#\/removal$/, renderRemoval, "Removal"],
  [/^#\/reports$/, renderReports, "Reports"],
  [/^#\/tokens$/, renderTokens, "Tokens"],
  [/^#\/provisioning$/, renderProvisioning, "Provisioning"],
];

const main = document.getElementById("main");
let generation = 0;
let signInMessage = "";

function showChrome(signedIn) {
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  if (signedIn) document.getElementById("who-name").textContent = session().user;
}

function markCurrent(hash) {
  for (const link of document.querySelectorAll("#nav a")) {
    const current = hash === link.getAttribute("href") || hash.startsWith(`${link.getAttribute("href")}/`);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  const mine = ++generation;
  const context = { alive: () => mine === generation, go: (hash) => (location.hash = hash), rerender: route };
  if (!session()) {
    showChrome(false);
    document.title = "Sign in – zoomops";
    renderSignIn(main, { message: signInMessage, done: () => ((signInMessage = ""), route()) });
    return;
  }
  showChrome(true);
  const hash = location.hash.split("?")[0];
  if (!hash.startsWith("#/")) {
    if (!hash) location.replace("#/jobs");
    return;
  }
  const found = ROUTES.find(([pattern]) => pattern.test(hash));
  if (!found) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "No such page: choose one from the menu."));
    return;
  }
  const [pattern, render, title] = found;
  document.title = `${title} – zoomops`;
  markCurrent(hash);
  replace(main);
  const heading = await render(main, hash.match(pattern).slice(1), context);
  if (context.alive()) {
    (heading || main.querySelector("h1") || main).focus({ preventScroll: false });
    announce(`${title} page`);
  }
}

whenSignedOut((message) => {
  sessionStorage.removeItem("zoomops.session");
  signInMessage = message;
  route();
});

async function start() {
  try {
    await loadConfig();
    await finishHostedSignIn();
  } catch (error) {
    signInMessage = String(error.message || error);
  }
  document.getElementById("sign-out").addEventListener("click", () => {
    if (!signOut()) {
      signInMessage = "Signed out.";
      route();
    }
  });
  window.addEventListener("hashchange", route);
  route();
}

start();
