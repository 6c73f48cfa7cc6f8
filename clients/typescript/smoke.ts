// Smoke test of the TypeScript client that openapi-typescript generates from the served spec,
// called through openapi-fetch. Run by `.ci/typed-clients` against a fresh release binary:
// `tsc` (strict) checks every call and every error against the generated types, then node runs
// it.  node dist/smoke.js BASE_URL
import createClient from "openapi-fetch";
import { Webhook } from "standardwebhooks";
import type { components, paths, webhooks } from "./generated/schema.js";

type Problem = components["schemas"]["Problem"];
// One event of a notification's stream, as the spec describes it: its SSE fields, `data` the
// JSON of a `NotificationOut`. (The stream read whole is the other member: its text.)
type NotificationEvent = Exclude<
  paths["/notifications/{id}/events"]["get"]["responses"][200]["content"]["text/event-stream"],
  string
>;

// The events of Server-Sent Events text, each its fields (comments and field-less blocks aside).
function sseEvents(text: string): Record<string, string>[] {
  return text
    .replace(/\r\n/g, "\n")
    .split("\n\n")
    .map((block) => {
      const fields: Record<string, string> = {};
      for (const line of block.split("\n")) {
        if (line && !line.startsWith(":")) {
          const at = line.indexOf(":");
          const name = at < 0 ? line : line.slice(0, at);
          fields[name] = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
        }
      }
      return fields;
    })
    .filter((fields) => "data" in fields);
}

// The one thing of node's this needs, declared rather than pulling in @types/node.
declare const process: { argv: string[] };

const base = process.argv[2] ?? "http://127.0.0.1:8080";
const receiver = process.argv[3] ?? "http://127.0.0.1:8081";

// A test event's payload, as the 3.1 document's `webhooks` describes it.
type TestEvent = webhooks["webhook.test"]["post"]["requestBody"]["content"]["application/json"];

// The `n`th test event (from 1) for endpoint `webhookId` that the webhook receiver (which other
// smokes share) has got: its headers and body.
async function delivery(
  webhookId: number,
  n: number,
): Promise<{ headers: Record<string, string>; body: string }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const listed = (await (await fetch(`${receiver}/received`)).json()) as {
      headers: Record<string, string>;
      body: string;
    }[];
    const mine = listed.filter((r) => (JSON.parse(r.body) as TestEvent).data.webhook_id === webhookId);
    const got = mine[n - 1];
    if (got !== undefined) {
      return got;
    }
    check(Date.now() < deadline, `delivery ${n} arrives`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const password = "correct horse battery";

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`smoke failed: ${what}`);
  }
}

// A problem's status, read through its type: this compiles only if the error is a Problem.
function statusOf(problem: Problem | undefined): number | undefined {
  return problem?.status;
}

async function main(): Promise<void> {
  const open = createClient<paths>({ baseUrl: base });
  const email = `smoke-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;

  const signup = await open.POST("/users", {
    body: { name: "Smoke", email, password, bio: "hi" },
  });
  check(signup.response.status === 201 && signup.data !== undefined, "sign-up is 201");
  const user = signup.data;
  check(signup.response.headers.get("location") === `/users/${user.id}`, "Location");

  const login = await open.POST("/auth/tokens", { body: { email, password } });
  check(login.data !== undefined, "login");
  const api = createClient<paths>({
    baseUrl: base,
    headers: { authorization: `Bearer ${login.data.access_token}` },
  });

  const invalid = await open.POST("/users", {
    body: { name: "", email: "nope", password },
  });
  check(statusOf(invalid.error) === 422, "a 422");
  const locs = (invalid.error?.errors ?? []).map((e) => e.loc.join(".")).sort();
  check(JSON.stringify(locs) === JSON.stringify(["body.email", "body.name"]), `errors[]: ${locs}`);

  const patched = await api.PATCH("/users/{id}", {
    params: { path: { id: user.id } },
    body: { bio: null, name: "Smoke Test" },
  });
  check(patched.data !== undefined, "merge patch");
  check(patched.data.bio === null && patched.data.email === email, "patched members");

  const account = await api.POST("/accounts", { body: { owner_id: user.id } });
  check(account.data !== undefined, "account");
  const id = account.data.id;

  const missing = await api.GET("/accounts/{id}", { params: { path: { id: id + 1_000_000 } } });
  check(statusOf(missing.error) === 404, "a 404");

  const deposit = await api.POST("/accounts/{id}/deposits", {
    params: { path: { id }, header: { "Idempotency-Key": "smoke-1" } },
    body: { amount: 500 },
  });
  check(deposit.data?.kind === "deposit", "deposit");
  const short = await api.POST("/accounts/{id}/withdrawals", {
    params: { path: { id } },
    body: { amount: 501 },
  });
  check(statusOf(short.error) === 402, "a 402");
  check(short.error?.balance === 500 && short.error.required === 501, "balance and required");

  const accepted = await api.POST("/notifications", {
    body: { email: "friend@example.com", subject: "Smoke", body: "Hello" },
  });
  check(accepted.response.status === 202 && accepted.data !== undefined, "a 202");
  const status: components["schemas"]["NotificationStatus"] = accepted.data.status;
  check(["queued", "sending", "sent", "failed"].includes(status), "a status");

  // Its events (Server-Sent Events) from the first on (`Last-Event-ID: 0`), read as text to
  // the end of the stream: after `sent`.
  const followed = await api.GET("/notifications/{id}/events", {
    params: { path: { id: accepted.data.id }, header: { "Last-Event-ID": "0" } },
    parseAs: "text",
  });
  check(followed.response.status === 200 && typeof followed.data === "string", "a stream");
  const events = sseEvents(followed.data).map((fields): NotificationEvent => {
    const names: NotificationEvent["event"][] = ["queued", "sending", "sent", "failed"];
    const name = names.find((known) => known === fields.event);
    const { id, data } = fields;
    check(name !== undefined && id !== undefined && data !== undefined, `an event: ${JSON.stringify(fields)}`);
    return { id, event: name, data };
  });
  const names = events.map((event) => event.event);
  check(names[0] === "queued" && names[names.length - 1] === "sent", `events: ${names.join(", ")}`);
  const lastEvent = events[events.length - 1];
  check(lastEvent !== undefined, "a last event");
  const last: components["schemas"]["NotificationOut"] = JSON.parse(lastEvent.data);
  check(last.status === "sent" && last.id === accepted.data.id, `data: ${JSON.stringify(last)}`);

  // A webhook endpoint at the smoke's receiver: its test event verified with the Standard
  // Webhooks library and the secret shown once; after a rotation, signed by both secrets.
  const made = await api.POST("/webhooks", {
    body: { url: `${receiver}/hook`, events: ["account.transaction.booked"] },
  });
  check(made.response.status === 201 && made.data !== undefined, "a webhook endpoint");
  const hook = made.data;
  const test = await api.POST("/webhooks/{id}/test", { params: { path: { id: hook.id } } });
  check(test.response.status === 202 && test.data?.event_type === "webhook.test", "a test event");
  const first = await delivery(hook.id, 1);
  const payload = new Webhook(hook.secret).verify(first.body, first.headers) as TestEvent;
  check(payload.type === "webhook.test" && payload.data.webhook_id === hook.id, `payload: ${first.body}`);
  const rotated = await api.POST("/webhooks/{id}/secrets", { params: { path: { id: hook.id } } });
  check(rotated.response.status === 201 && rotated.data !== undefined, "a rotation");
  await api.POST("/webhooks/{id}/test", { params: { path: { id: hook.id } } });
  const second = await delivery(hook.id, 2);
  check(second.headers["webhook-signature"]?.split(" ").length === 2, "two signatures");
  for (const secret of [hook.secret, rotated.data.secret]) {
    new Webhook(secret).verify(second.body, second.headers);
  }

  console.log(
    "typescript smoke: sign-up, login, 422 errors[], merge patch, 404, 402 balance/required, 202, events to sent, webhooks verified across a rotation: ok",
  );
}

await main();
