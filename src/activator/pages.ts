// The responses the activator writes itself: small text pages (HTML only for the browser
// "starting" page), one per refusal cause. Bodies never carry backend logs or internal detail.
import { STATUS_CODES } from "node:http";
import type { RefusalCause } from "./metrics.js";

export interface Page {
  status: number;
  /** Seconds, for 503s. */
  retryAfter?: number;
  contentType: string;
  body: string;
}

const TEXT = "text/plain; charset=utf-8";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page for a refusal; `app` is a route name (a DNS label), never client input. */
export function refusalPage(cause: Exclude<RefusalCause, "starting_page" | "bad_request">, app: string | undefined, retryAfterSeconds: number): Page {
  const text = (status: number, body: string, retry = false): Page => ({ status, contentType: TEXT, body: `${body}\n`, ...(retry ? { retryAfter: retryAfterSeconds } : {}) });
  switch (cause) {
    case "unknown_host":
      return text(404, "404 Not Found: no app answers to this host on walk.io.");
    case "bad_host":
      return text(400, "400 Bad Request: the Host header is missing or malformed.");
    case "wake_failed":
      return text(502, `502 Bad Gateway: app ${app} failed to start. Its logs are in walkd's log.`);
    case "upstream_error":
      return text(502, `502 Bad Gateway: app ${app} closed the connection or could not be reached.`);
    case "wake_timeout":
      return text(503, `503 Service Unavailable: app ${app} did not become ready in time. Retry shortly.`, true);
    case "queue_full":
      return text(503, `503 Service Unavailable: too many requests are waiting for app ${app}. Retry shortly.`, true);
    case "queue_timeout":
      return text(503, `503 Service Unavailable: app ${app} is at its concurrency limit. Retry shortly.`, true);
    case "upstream_timeout":
      return text(504, `504 Gateway Timeout: app ${app} did not answer in time.`);
  }
}

/** The browser page shown while an app wakes: refreshes itself, so the next load hits the woken app. */
export function startingPage(app: string, refreshSeconds: number): Page {
  const name = escapeHtml(app);
  const body = `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="${refreshSeconds}">
<title>Starting ${name}…</title></head>
<body style="font-family:sans-serif;margin:3em"><h1>Starting ${name}…</h1>
<p>The app is waking up. This page reloads in ${refreshSeconds} s.</p></body></html>
`;
  return { status: 503, retryAfter: refreshSeconds, contentType: "text/html; charset=utf-8", body };
}

/** The page for a request walkd cannot take (400, 408, 431, 501, 505): the status, its reason and what was wrong. */
export function badRequestPage(status: number, message: string): Page {
  return { status, contentType: TEXT, body: `${status} ${STATUS_CODES[status] ?? "Error"}: ${message}.\n` };
}
