// Sign-in. Deployed ("hosted"): Cognito's hosted page, authorization code with PKCE; the code is exchanged at
// once and wiped from the address bar. Locally ("password"): the local server's /console/local-sign-in (moto has
// no hosted page). Tokens stay in this tab's sessionStorage: never in a URL, a cookie or a log.

const SESSION = "zoomops.session";
const PENDING = "zoomops.pkce";
let config = null;

export async function loadConfig() {
  const answer = await fetch("/console/config.json", { cache: "no-store" });
  if (!answer.ok) throw new Error(`config.json: ${answer.status}`);
  config = await answer.json();
  return config;
}

export const settings = () => config;

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

/** The signed-in session, or null when there is none or it is about to expire. */
export function session() {
  let kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(SESSION) || "null");
  } catch {
    kept = null;
  }
  if (!kept || kept.expiresAt <= Date.now() / 1000 + 30) return null;
  return kept;
}

function keep({ accessToken, idToken, expiresIn }) {
  const id = claimsOf(idToken);
  const access = claimsOf(accessToken);
  const groups = access["cognito:groups"] || id["cognito:groups"] || [];
  sessionStorage.setItem(
    SESSION,
    JSON.stringify({
      accessToken,
      expiresAt: Math.floor(Date.now() / 1000) + Number(expiresIn || 3600),
      user: id.email || access.username || "signed in",
      groups,
    }),
  );
}

export class SignInError extends Error {}

export async function passwordSignIn(username, password) {
  const answer = await fetch("/console/local-sign-in", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
    cache: "no-store",
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new SignInError(body.detail || body.message || `sign-in failed (${answer.status})`);
  keep(body);
}

function randomText(bytes) {
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  return base64url(data);
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const redirectUri = () => `${location.origin}/console`;

export async function hostedSignIn({ campus = true } = {}) {
  const verifier = randomText(48);
  const state = randomText(24);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, route: location.hash }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: config.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  if (campus && config.identityProvider) query.set("identity_provider", config.identityProvider);
  location.assign(`https://${config.authDomain}/oauth2/authorize?${query}`);
}

/** Back from the hosted page with ?code=&state=: exchange the code, then wipe it from the address bar. */
export async function finishHostedSignIn() {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return false;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", `/console${pending?.route || ""}`);
  if (query.has("error")) throw new SignInError(query.get("error_description") || query.get("error"));
  if (!pending || pending.state !== query.get("state")) throw new SignInError("the sign-in answer did not match this tab: sign in again");
  const answer = await fetch(`https://${config.authDomain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.clientId,
      code: query.get("code"),
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new SignInError(body.error_description || body.error || `sign-in failed (${answer.status})`);
  keep({ accessToken: body.access_token, idToken: body.id_token, expiresIn: body.expires_in });
  return true;
}

export function signOut() {
  sessionStorage.removeItem(SESSION);
  if (config?.signIn === "hosted") {
    const query = new URLSearchParams({ client_id: config.clientId, logout_uri: redirectUri() });
    location.assign(`https://${config.authDomain}/logout?${query}`);
    return true;
  }
  return false;
}
