// graphile-worker with its default settings and concurrency 16, on the same Postgres, with the
// same workload as Veza's queue benchmark: a bulk batch of no-op jobs processed by 1 or 2
// worker processes, then pickup latency of single jobs. Prints one JSON line.
//
//   node bench.js DATABASE_URL JOBS
const { run, makeWorkerUtils } = require("graphile-worker");
const { fork } = require("child_process");
const { Pool } = require("pg");

// Batches through graphile's own SQL function, one statement per batch (0.16 has no addJobs).
async function addBatch(pool, identifier, n) {
  await pool.query(
    "select graphile_worker.add_job($1, json_build_object()) from generate_series(1, $2)",
    [identifier, n],
  );
}

const connectionString = process.argv[2] === "--worker" ? process.argv[3] : process.argv[2];
const jobs = Number(process.argv[3] || 20000);

async function worker() {
  // A worker process: runs until killed, tells the parent about each finished job.
  const runner = await run({
    connectionString,
    concurrency: 16,
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

async function processing(pool, n) {
  const children = await startWorkers(n);
  let done = 0;
  const finished = new Promise((resolve) =>
    children.forEach((c) => c.on("message", (m) => { if (m.done && ++done === jobs) resolve(); })));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < jobs; i += 1000) await addBatch(pool, "noop", Math.min(1000, jobs - i));
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  children.forEach((c) => c.kill("SIGKILL"));
  return jobs / seconds;
}

async function enqueueRate(pool) {
  // Batches of 1000 into a queue nobody consumes.
  const batches = 20;
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) await addBatch(pool, "unconsumed", 1000);
  return (batches * 1000) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function pickup(utils) {
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
  const utils = await makeWorkerUtils({ connectionString });
  await utils.migrate();
  const pool = new Pool({ connectionString, max: 2 });
  const one = await processing(pool, 1);
  const two = await processing(pool, 2);
  const latency = await pickup(utils);
  const enqueue = await enqueueRate(pool);
  await pool.end();
  await utils.release();
  console.log(JSON.stringify({ processing_1: one, processing_2: two, pickup_ms: latency, enqueue_per_s: enqueue }));
}

if (process.argv[2] === "--worker") {
  process.argv[2] = process.argv[3];
  worker().catch((e) => { console.error(e); process.exit(1); });
} else {
  main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
}
