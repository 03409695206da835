// A resumable upload to Veza with tus-js-client, in two runs: `start` sends chunks until at least
// STOP bytes are accepted, then aborts (an in-flight PATCH is cut off) and prints the upload's
// URL; `resume` continues that URL from the offset the server gives and prints the item made.
//
//   node upload.mjs start  BASE_URL TOKEN FILE CHUNK_BYTES STOP_BYTES
//   node upload.mjs resume BASE_URL TOKEN FILE CHUNK_BYTES UPLOAD_URL
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import * as tus from "tus-js-client";

const [phase, baseUrl, token, file, chunk, last] = process.argv.slice(2);
const data = await readFile(file);
let mediaId;
const options = {
  endpoint: `${baseUrl}/v1/uploads`,
  chunkSize: Number(chunk),
  headers: { Authorization: `Bearer ${token}` },
  metadata: { filename: basename(file), filetype: "audio/wav" },
  retryDelays: null,
  storeFingerprintForResuming: false,
  onAfterResponse(req, res) {
    if (req.getMethod() === "PATCH" && res.getHeader("Veza-Media-Id")) {
      mediaId = res.getHeader("Veza-Media-Id");
    }
  },
};

const result = await new Promise((resolve, reject) => {
  if (phase === "start") {
    const upload = new tus.Upload(data, {
      ...options,
      onChunkComplete(_size, accepted) {
        if (accepted >= Number(last)) {
          upload.abort().then(() => resolve({ url: upload.url, accepted }), reject);
        }
      },
      onSuccess: () => reject(new Error("the upload finished before it was interrupted")),
      onError: reject,
    });
    upload.start();
  } else {
    const upload = new tus.Upload(data, {
      ...options,
      uploadUrl: last,
      onSuccess: () => resolve({ url: upload.url, mediaId }),
      onError: reject,
    });
    upload.start();
  }
});
console.log(JSON.stringify(result));
