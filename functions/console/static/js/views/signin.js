import { hostedSignIn, passwordSignIn, settings } from "../auth.js";
import { h, replace } from "../dom.js";

export function renderSignIn(main, { message, done }) {
  const config = settings();
  const note = h("p", { class: message ? "notice" : "hidden", role: "alert" }, message || "");
  const heading = h("h1", { tabindex: "-1" }, "Sign in to zoomops");
  if (!config) {
    replace(main, heading, h("p", { class: "error", role: "alert" }, message || "The console's settings could not be read."));
    return;
  }
  if (config.signIn === "hosted") {
    const campus = Boolean(config.identityProvider);
    const button = h("button", { type: "button", class: "primary", onclick: () => hostedSignIn() }, campus ? "Sign in with your campus account" : "Sign in");
    // Users of the pool itself (a break-glass admin) sign in on the hosted page, past the campus IdP.
    const local = campus ? h("button", { type: "button", onclick: () => hostedSignIn({ campus: false }) }, "Sign in with a zoomops account") : null;
    const text = campus ? "You sign in on the campus sign-in page and come back here." : "You sign in on the zoomops sign-in page and come back here.";
    replace(main, h("section", { class: "card narrow" }, heading, note, h("p", {}, text), h("div", { class: "actions" }, button, local)));
    return;
  }
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error" });
  const user = h("input", { id: "user", name: "username", type: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "sign-in-heading", "aria-describedby": "sign-in-error" },
    h("p", { class: "hint" }, "Local stack: sign in with the user and password `make serve` printed."),
    h("div", { class: "field" }, h("label", { for: "user" }, "User (email)"), user),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), password),
    submit,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      await passwordSignIn(user.value.trim(), password.value);
      password.value = "";
      done();
    } catch (failure) {
      error.textContent = String(failure.message || failure);
      submit.disabled = false;
      password.focus();
    }
  });
  heading.id = "sign-in-heading";
  replace(main, heading, note, form);
  user.focus();
}
