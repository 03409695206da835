// The SDK against a running Veza (API and worker): register, log in, upload an image, wait for
// its job, read the item and download a thumbnail — all through the generated types. Prints
// one JSON report; exits non-zero on the first thing that does not hold.
//
//   node dist/test/e2e.js BASE_URL IMAGE_FILE
import { readFile } from "node:fs/promises";
import { createVezaClient, uploadMedia, type Schemas } from "../src/index.js";

const [baseUrl, imagePath] = process.argv.slice(2);
if (!baseUrl || !imagePath) throw new Error("usage: e2e.js BASE_URL IMAGE_FILE");

function must<T>(value: T | undefined, what: string, error?: unknown): T {
  if (value === undefined) throw new Error(`${what} failed: ${JSON.stringify(error)}`);
  return value;
}

const anonymous = createVezaClient(baseUrl);
const credentials = { email: "sdk@example.com", password: "a password for the sdk" };
const registered = await anonymous.POST("/v1/auth/register", { body: credentials });
must(registered.data, "register", registered.error);
const duplicate = await anonymous.POST("/v1/auth/register", { body: credentials });
const login = await anonymous.POST("/v1/auth/login", { body: credentials });
const token = must(login.data, "login", login.error).access_token;

const veza = createVezaClient(baseUrl, token);
const me = must((await veza.GET("/v1/me")).data, "me");
const upload = await uploadMedia(veza, await readFile(imagePath), "picture.png");
const accepted = must(upload.data, "upload", upload.error);
const jobId = accepted.job_ids[0];

let job: Schemas["Job"] | undefined;
for (let tries = 0; tries < 600; tries++) {
  const polled = await veza.GET("/v1/jobs/{id}", { params: { path: { id: jobId } } });
  job = must(polled.data, "get job", polled.error);
  if (job.state === "succeeded" || job.state === "failed" || job.state === "cancelled") break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const item = await veza.GET("/v1/media/{id}", { params: { path: { id: accepted.media_id } } });
const media = must(item.data, "get media", item.error);
const thumbnails = media.outputs.filter((output) => output.kind === "thumbnail");
const first = thumbnails[0];
const thumbnail = first
  ? await fetch(new URL(first.url, baseUrl), { headers: { Authorization: `Bearer ${token}` } })
  : undefined;
const missing = await veza.GET("/v1/media/{id}", {
  params: { path: { id: "00000000-0000-7000-8000-000000000000" } },
});

console.log(
  JSON.stringify({
    duplicate: { status: duplicate.response.status, code: duplicate.error?.code },
    me: me.email,
    job: { id: job?.id, state: job?.state, kind: job?.kind },
    media: { id: media.id, status: media.status, thumbnails: thumbnails.length },
    thumbnail: {
      width: first?.width,
      status: thumbnail?.status,
      contentType: thumbnail?.headers.get("content-type"),
      bytes: thumbnail ? (await thumbnail.arrayBuffer()).byteLength : 0,
    },
    missing: { status: missing.response.status, code: missing.error?.code },
  }),
);
