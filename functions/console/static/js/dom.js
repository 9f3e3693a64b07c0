// Building the page: every value becomes a text node or an attribute set through the DOM, never markup.
// (The Content-Security-Policy turns on Trusted Types with no policy: an HTML string cannot even be assigned.)

/** h("p", {class: "note"}, "text", child, ...): an element; strings and numbers become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "href") {
      element.setAttribute("href", safeHref(value));
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

/** Links only to this console (hash routes) or to http(s) addresses (the API's presigned downloads). */
export function safeHref(value) {
  const text = String(value);
  if (text.startsWith("#")) return text;
  try {
    const url = new URL(text, location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : "#";
  } catch {
    return "#";
  }
}

const numbers = new Intl.NumberFormat("en");
export const count = (n) => (n === null || n === undefined ? "–" : numbers.format(n));

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const minutes = Math.floor(seconds / 60);
  return minutes >= 1 ? `${minutes} min` : `${Math.max(0, Math.round(seconds))} s`;
}

/** A table: columns as [heading, row => cell]; cells are text or nodes. */
export function table(caption, columns, rows) {
  return h(
    "div",
    { class: "table-scroll", tabindex: "0", role: "region", "aria-label": caption },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([heading, cell]) => h("td", { "data-label": heading }, cell(row)))))),
    ),
  );
}

/** Counts as a description list: [[label, value], ...]. */
export function facts(pairs, label) {
  return h("dl", { class: "facts", "aria-label": label }, pairs.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value))));
}

/** A progress element with its text: indeterminate while the total is unknown. */
export function progress(label, done, total, text) {
  const id = `p${Math.random().toString(36).slice(2)}`;
  const bar = h("progress", { id, max: total || undefined, value: total ? Math.min(done, total) : undefined });
  return h("div", { class: "progress" }, h("label", { for: id }, label), bar, h("p", { class: "progress-text" }, text));
}

let announcer;
/** Says something to screen readers (the polite live region). */
export function announce(text) {
  announcer ??= document.getElementById("status");
  if (announcer) announcer.textContent = text;
}
