// Plays a Veza HLS master playlist in headless Chromium with hls.js, through the API's own URLs,
// and prints what happened as one JSON object on stdout. Exits 1 when any playback failed: a
// fatal hls.js error, a media element error, or a clip that did not play to its end in time.
//
//   node play.mjs --origin http://127.0.0.1:PORT --master /v1/media/ID/outputs/GEN/index.m3u8 \
//                 --token JWT|none [--chromium /usr/bin/chromium] [--timeout-seconds 30] \
//                 [--element audio|video] [--families mp4a,opus]
//
// The player page is served from a made-up URL on the API's origin (page.route fulfils it), so
// hls.js's requests are same-origin and need no CORS; every other request reaches the real API,
// with the bearer token added by hls.js's xhrSetup (`--token none`: no header at all, for a signed
// playback URL; each run then counts the requests that carried one, which must be none). One run lets hls.js choose its level, then
// one run per codec family (`--families`: audio ones such as mp4a and opus, video ones such as
// av01 and avc1) forces the first level of that family. A video page also reports the frames
// its <video> decoded and dropped.
import { parseArgs } from "node:util";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const { values: args } = parseArgs({
  options: {
    origin: { type: "string" },
    master: { type: "string" },
    token: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "timeout-seconds": { type: "string", default: "30" },
    element: { type: "string", default: "audio" },
    families: { type: "string", default: "mp4a,opus" },
  },
});
if (!["audio", "video"].includes(args.element)) {
  console.error("--element is audio or video");
  process.exit(2);
}
for (const name of ["origin", "master", "token"]) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}
const timeoutMs = Number(args["timeout-seconds"]) * 1000;
const playerUrl = `${args.origin}/__player.html`;
const hlsPath = require.resolve("hls.js/dist/hls.min.js");
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Veza player</title></head>
<body><${args.element} id="player" muted preload="auto"></${args.element}></body></html>`;

const browser = await chromium.launch({
  executablePath: args.chromium,
  headless: true,
  args: ["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
});
const report = { chromium: browser.version(), runs: [] };
let failed = false;
try {
  const levels = await runPlayback(browser, null);
  report.levels = levels.levels;
  report.runs.push(levels.run);
  // One forced run per codec family the master offers, on that family's first level.
  for (const family of args.families.split(",")) {
    const index = levels.levels.findIndex((l) =>
      [l.audioCodec, l.videoCodec].some((codec) => (codec || "").toLowerCase().startsWith(family)),
    );
    if (index < 0) {
      report.runs.push({ forced: family, ok: false, problems: [`no ${family} level in the master`] });
      continue;
    }
    const { run } = await runPlayback(browser, index);
    run.family = family;
    report.runs.push(run);
  }
  failed = report.runs.some((r) => !r.ok);
} catch (err) {
  report.error = String(err && err.stack ? err.stack : err);
  failed = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report, null, 2));
process.exit(failed ? 1 : 0);

/// Loads the player page in a fresh context, plays the master with hls.js (level `forced`, or
/// hls.js's own choice when null) until the clip ends, and returns the levels and the run.
async function runPlayback(browser, forced) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
  let withAuthorization = 0;
  page.on("request", (request) => {
    if (request.headers()["authorization"]) withAuthorization += 1;
  });
  // Chromium's own media log says why a SourceBuffer refused a segment (hls.js only sees that
  // it did): keep its warnings and errors.
  const mediaLog = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send("Media.enable");
  cdp.on("Media.playerMessagesLogged", ({ messages }) => {
    for (const m of messages) if (m.level !== "info" && m.level !== "debug") mediaLog.push(`${m.level}: ${m.message}`);
  });
  cdp.on("Media.playerErrorsRaised", ({ errors }) => {
    for (const e of errors) mediaLog.push(`error: ${e.errorType} (code ${e.code})`);
  });
  await page.route(playerUrl, (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: PAGE }),
  );
  try {
    await page.goto(playerUrl);
    await page.addScriptTag({ path: hlsPath });
    const result = await page.evaluate(play, {
      master: args.master,
      token: args.token,
      forced,
      timeoutMs,
    });
    result.run.console = consoleLines;
    result.run.requestsWithAuthorization = withAuthorization;
    result.run.mediaLog = mediaLog;
    if (mediaLog.some((line) => line.startsWith("error"))) {
      result.run.problems.push("Chromium's media log has errors");
      result.run.ok = false;
    }
    return result;
  } finally {
    await context.close();
  }
}

/// Runs in the page: plays the master to its end (or the timeout), collecting what hls.js and
/// the media element report.
function play({ master, token, forced, timeoutMs }) {
  // hls.js errors that mean the browser refused the stream, even when hls.js recovers (e.g. by
  // resetting the MediaSource and falling back to another level). Others, such as a stall on a
  // busy machine, are reported but do not fail the run.
  const REFUSALS = [
    "bufferAddCodecError",
    "bufferAppendError",
    "bufferAppendingError",
    "bufferIncompatibleCodecsError",
    "fragParsingError",
    "levelSwitchError",
    "manifestIncompatibleCodecsError",
    "mediaSourceRequiresReset",
  ];
  return new Promise((resolve) => {
    const Hls = window.Hls;
    const audio = document.getElementById("player");
    audio.muted = true;
    // Twice real time keeps the test short; every sample is still fetched, decoded and played.
    audio.playbackRate = 2;
    const run = {
      forced: forced === null ? "auto" : forced,
      hlsVersion: Hls.version,
      mseSupport: {
        aac: MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'),
        opus: MediaSource.isTypeSupported('audio/mp4; codecs="opus"'),
        Opus: MediaSource.isTypeSupported('audio/mp4; codecs="Opus"'),
        av1: MediaSource.isTypeSupported('video/mp4; codecs="av01.0.00M.08"'),
        h264: MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c00a"'),
      },
      errors: [],
      levelsPlayed: [],
      fragments: [],
      problems: [],
    };
    const hls = new Hls({
      xhrSetup: token === "none" ? undefined : (xhr) => xhr.setRequestHeader("Authorization", `Bearer ${token}`),
      startLevel: forced === null ? -1 : forced,
      capLevelToPlayerSize: false,
    });
    let levels = [];
    let done = false;
    const finish = (why) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      run.endedBy = why;
      run.currentTime = audio.currentTime;
      run.duration = audio.duration;
      run.ended = audio.ended;
      if (audio.getVideoPlaybackQuality) {
        const quality = audio.getVideoPlaybackQuality();
        run.videoFrames = { decoded: quality.totalVideoFrames, dropped: quality.droppedVideoFrames };
        run.videoSize = [audio.videoWidth, audio.videoHeight];
        if (!(quality.totalVideoFrames > 0)) run.problems.push("no video frame decoded");
      }
      run.mediaError = audio.error ? { code: audio.error.code, message: audio.error.message } : null;
      run.level = hls.currentLevel >= 0 ? levels[hls.currentLevel] : null;
      if (run.errors.some((e) => e.fatal)) run.problems.push("fatal hls.js error");
      for (const e of run.errors.filter((e) => REFUSALS.includes(e.details))) {
        run.problems.push(`hls.js ${e.details}: ${e.reason}`);
      }
      if (run.mediaError) run.problems.push(`media error ${run.mediaError.code}: ${run.mediaError.message}`);
      if (!(audio.currentTime >= 2)) run.problems.push(`currentTime only ${audio.currentTime}`);
      if (!(audio.duration > 0) || !(audio.currentTime >= audio.duration - 0.5)) {
        run.problems.push(`did not play to the end: ${audio.currentTime} of ${audio.duration}`);
      }
      if (forced !== null && run.levelsPlayed.some((l) => l !== forced)) {
        run.problems.push(`played levels ${run.levelsPlayed} instead of ${forced} alone`);
      }
      run.ok = run.problems.length === 0;
      hls.destroy();
      resolve({ levels, run });
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      levels = data.levels.map((l, index) => ({
        index,
        url: Array.isArray(l.url) ? l.url[0] : l.url,
        bitrate: l.bitrate,
        codecs: l.attrs.CODECS,
        audioCodec: l.audioCodec,
        videoCodec: l.videoCodec,
      }));
      if (forced !== null) hls.currentLevel = forced;
      audio.playbackRate = 2;
      audio.play().catch((err) => run.errors.push({ fatal: true, details: `play(): ${err}` }));
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => {
      if (run.levelsPlayed.at(-1) !== data.level) run.levelsPlayed.push(data.level);
    });
    hls.on(Hls.Events.FRAG_BUFFERED, (_, data) => {
      run.fragments.push({ level: data.frag.level, sn: data.frag.sn, start: data.frag.start });
    });
    hls.on(Hls.Events.ERROR, (_, data) => {
      run.errors.push({ fatal: data.fatal, type: data.type, details: data.details, reason: data.reason || String(data.error || "") });
      if (data.fatal) finish("fatal hls.js error");
    });
    audio.addEventListener("error", () => finish("media error"));
    audio.addEventListener("ended", () => finish("ended"));
    hls.attachMedia(audio);
    hls.loadSource(master);
  });
}
