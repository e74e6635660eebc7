/**
 * Section `partition` (issue 20): a partitioned convert on this machine, partitions as separate
 * processes run at once. Measured on the bench's 1x export (400 sessions x 50 steps, 3 GB; on a
 * smaller one each process's fixed start-up cost dominates), written as Parquet + WebDataset in
 * 50 MB shards (so every partition count gets an even share):
 *  - one `convert` (the baseline, T1, CPU1 seconds);
 *  - `convert --plan-only` (the plan pass's share of T1);
 *  - plan, then N = 1, 2, 4 `convert --partition i/N` at once, then `--finalize`: the partitions'
 *    wall time T(N), their CPU seconds CPU(N), and the whole (plan + partitions + finalize);
 *  - efficiency(N) = T1 / (T(N) · min(N, cores)): 1 when N partitions on N cores each run at the
 *    single process's speed.
 * One convert is not one core's work: it hashes its output and reads frames on threads of its own,
 * so it keeps c1 = CPU1 / T1 cores busy. The N partitions can at best keep every core busy
 * (T(N) >= CPU(N) / cores), which caps efficiency(N) at T1 · cores / (min(N, cores) · CPU(N)) =
 * cpu_efficiency(N) · cores / (min(N, cores) · c1): at 2 partitions on 2 cores, cpu_efficiency / c1.
 * efficiency = that ceiling × core_use, core_use = CPU(N) / (cores · T(N)).
 * So the target is measured with one core per process (taskset): one convert on one core, then 2
 * partitions on a core each, efficiency = T1(one core) / (2 · T2(a core each)).
 * Every partitioned output is checked to be the single convert's byte for byte.
 */
import { spawnSync } from 'node:child_process';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, round, row } from './lib.ts';
import type { BenchContext, Section } from './run.ts';

const SESSIONS = Number(process.env.NUSOMI_BENCH_PARTITION_SESSIONS ?? 400);
const STEPS = 50;
const FLAGS = ['--formats', 'parquet,webdataset', '--split', 'train=1', '--max-shard-bytes', '50MB', '--shard-bytes', '50MB'];

/**
 * Runs every argv at once: seconds until the last one exits, and the CPU seconds (user + system) they
 * used together, which a busy machine changes far less than wall time. Fails if any fails.
 */
const MANY = `
import json, resource, subprocess, sys, time
argvs = json.loads(sys.argv[1])
t = time.perf_counter()
ps = [subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for a in argvs]
errs = [p.communicate()[1] for p in ps]
dt = time.perf_counter() - t
bad = [(p.returncode, e) for p, e in zip(ps, errs) if p.returncode != 0]
if bad:
    sys.stderr.write(bad[0][1].decode(errors="replace")[-4000:])
    sys.exit(1)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": dt, "cpu": u.ru_utime + u.ru_stime}))
`;

function concurrently(argvs: string[][]): { seconds: number; cpu: number } {
  const r = spawnSync('python3', ['-c', MANY, JSON.stringify(argvs)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`partitions failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; cpu: number };
}

/** One hash of every file's path and bytes (BLAKE3: a third of sha256's CPU over 6 GB of output, on a shared machine). */
function treeHash(root: string): string {
  const h = new Blake3Hasher();
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(root, rel)).sort()) {
      const p = rel ? `${rel}/${e}` : e;
      if (statSync(path.join(root, p)).isDirectory()) walk(p);
      else h.update(`${p} ${new Blake3Hasher().update(readFileSync(path.join(root, p))).digest('hex')}\n`);
    }
  };
  walk('');
  return h.digest('hex');
}

export async function run(ctx: BenchContext): Promise<Section> {
  const exp = ctx.ensureExport({ sessions: SESSIONS, steps: STEPS, format: 'jsonl' });
  const cores = os.availableParallelism();
  const convert = (out: string, extra: string[] = []) => [...cli, 'convert', exp.dir, '--out', out, ...FLAGS, ...extra];

  const loadBefore = os.loadavg()[0]!;
  const singleOut = path.join(ctx.scratch('partition-single'), 'out');
  ctx.prepareCache(exp);
  ctx.log(`partition: one convert of ${exp.rows} rows (${round(exp.bytes / 1e6, 0)} MB), load average ${round(loadBefore, 1)}`);
  const single = concurrently([convert(singleOut)]);
  const expected = treeHash(singleOut);
  // Only the hash is kept: 4 outputs of a 3 GB export in two formats would hold 24 GB at once.
  rmSync(singleOut, { recursive: true, force: true });
  const c1 = single.cpu / single.seconds;
  ctx.log(`  ${round(single.seconds, 1)} s, ${round(single.cpu, 1)} CPU s: c1 = ${round(c1)} cores busy`);

  const rows: Section['rows'] = [
    row('partition', 'one convert (baseline)', { seconds: single.seconds, peakRssMB: 0 }, exp.rows, exp.bytes),
  ];
  const ratios: Record<string, number> = {};
  ratios.single_cpu_s = round(single.cpu, 1);
  ratios.c1 = round(c1);
  let planSeconds = 0;
  let planCpu = 0;
  for (const n of [1, 2, 4]) {
    const out = path.join(ctx.scratch(`partition-${n}`), 'out');
    ctx.prepareCache(exp);
    const plan = concurrently([convert(out, ['--plan-only'])]);
    planSeconds = Math.max(planSeconds, plan.seconds);
    planCpu = Math.max(planCpu, plan.cpu);
    const ran = concurrently(Array.from({ length: n }, (_, i) => convert(out, ['--partition', `${i}/${n}`])));
    const parts = ran.seconds;
    const fin = concurrently([convert(out, ['--finalize'])]);
    if (treeHash(out) !== expected) throw new Error(`partition: ${n} partitions did not give the single convert's bytes`);
    rmSync(path.dirname(out), { recursive: true, force: true });
    const efficiency = single.seconds / (parts * Math.min(n, cores));
    const ceiling = (single.seconds * cores) / (Math.min(n, cores) * ran.cpu);
    const coreUse = ran.cpu / (cores * parts);
    ctx.log(
      `  N=${n}: plan ${round(plan.seconds, 1)} s (${round(plan.cpu, 2)} CPU s), partitions ${round(parts, 1)} s (${round(ran.cpu, 1)} CPU s), finalize ${round(fin.seconds, 1)} s (${round(fin.cpu, 2)} CPU s), efficiency ${round(efficiency)} (ceiling ${round(ceiling)}, core use ${round(coreUse)})`,
    );
    // Work partitioning adds (start-up, the plan read back, rows placed before the first owned one): 1 = none.
    ratios[`cpu_efficiency_${n}`] = round(single.cpu / ran.cpu);
    ratios[`partitions_cpu_s_${n}`] = round(ran.cpu, 1);
    ratios[`efficiency_${n}`] = round(efficiency);
    ratios[`efficiency_ceiling_${n}`] = round(ceiling);
    ratios[`core_use_${n}`] = round(coreUse);
    ratios[`speedup_${n}`] = round(single.seconds / parts);
    ratios[`end_to_end_speedup_${n}`] = round(single.seconds / (plan.seconds + parts + fin.seconds));
    ratios[`finalize_share_${n}`] = round(fin.seconds / single.seconds, 3);
    rows.push(
      row('partition', `${n} partition${n === 1 ? '' : 's'} at once (processes)`, { seconds: parts, peakRssMB: 0 }, exp.rows, exp.bytes),
    );
  }
  // The 2 partitions again, one after another: the CPU they add without slowing each other (processes
  // at once share caches and memory bandwidth, and hashing and copying gigabytes feel it).
  {
    const out = path.join(ctx.scratch('partition-2-sequential'), 'out');
    ctx.prepareCache(exp);
    concurrently([convert(out, ['--plan-only'])]);
    let cpu = 0;
    for (const i of [0, 1]) cpu += concurrently([convert(out, ['--partition', `${i}/2`])]).cpu;
    concurrently([convert(out, ['--finalize'])]);
    if (treeHash(out) !== expected) throw new Error("partition: 2 partitions one after another did not give the single convert's bytes");
    rmSync(path.dirname(out), { recursive: true, force: true });
    ctx.log(`  N=2 one after another: partitions ${round(cpu, 1)} CPU s`);
    ratios.cpu_efficiency_2_sequential = round(single.cpu / cpu);
  }
  // Each process on one core of its own (taskset): one convert on core 0, then the 2 partitions on
  // cores 0 and 1. This is the ideal of "N processes on N cores" the efficiency line states: the
  // unpinned single convert also runs its hash and I/O threads on the second core (c1 > 1), which
  // caps the unpinned efficiency at efficiency_ceiling_2 whatever partitioning costs.
  if (cores >= 2) {
    const pin = (core: number, argv: string[]) => ['taskset', '-c', String(core), ...argv];
    const oneOut = path.join(ctx.scratch('partition-pinned-single'), 'out');
    ctx.prepareCache(exp);
    const one = concurrently([pin(0, convert(oneOut))]);
    if (treeHash(oneOut) !== expected) throw new Error("partition: the convert on one core did not give the single convert's bytes");
    rmSync(path.dirname(oneOut), { recursive: true, force: true });
    const out = path.join(ctx.scratch('partition-pinned-2'), 'out');
    ctx.prepareCache(exp);
    concurrently([convert(out, ['--plan-only'])]);
    const two = concurrently([0, 1].map((i) => pin(i, convert(out, ['--partition', `${i}/2`]))));
    concurrently([convert(out, ['--finalize'])]);
    if (treeHash(out) !== expected) throw new Error("partition: 2 partitions on a core each did not give the single convert's bytes");
    rmSync(path.dirname(out), { recursive: true, force: true });
    const eff = one.seconds / (2 * two.seconds);
    ctx.log(
      `  one core per process: one convert ${round(one.seconds, 1)} s (${round(one.cpu, 1)} CPU s), 2 partitions ${round(two.seconds, 1)} s (${round(two.cpu, 1)} CPU s): efficiency ${round(eff)}`,
    );
    ratios.pinned_single_s = round(one.seconds, 2);
    ratios.pinned_partitions_2_s = round(two.seconds, 2);
    ratios.pinned_efficiency_2 = round(eff);
    ratios.pinned_cpu_efficiency_2 = round(one.cpu / two.cpu);
    rows.push(row('partition', 'one convert on one core (taskset)', { seconds: one.seconds, peakRssMB: 0 }, exp.rows, exp.bytes));
    rows.push(row('partition', '2 partitions at once, a core each (taskset)', { seconds: two.seconds, peakRssMB: 0 }, exp.rows, exp.bytes));
  }
  const planShare = planSeconds / single.seconds;
  ratios.plan_share = round(planShare, 3);
  ratios.plan_cpu_share = round(planCpu / single.cpu, 3);
  ratios.single_mb_per_s = round(exp.bytes / 1e6 / single.seconds, 1);
  ratios.plan_cpu_s = round(planCpu, 2);
  ratios.load_average_before = round(loadBefore, 1);
  ratios.load_average_after = round(os.loadavg()[0]!, 1);
  return {
    rows,
    ratios,
    targets: {
      // N processes on N cores: each pinned to its own core (the unpinned efficiency_2 is in ratios, with its ceiling).
      efficiency_at_2: { value: ratios.pinned_efficiency_2!, target: '>= 0.8', met: ratios.pinned_efficiency_2! >= 0.8 },
      plan_share: { value: ratios.plan_share, target: '<= 0.05', met: planShare <= 0.05 },
    },
    notes: [
      `${exp.rows} rows, ${round(exp.bytes / 1e6, 0)} MB export, ${cores} cores; formats parquet + webdataset, 50 MB shards; warm page cache; 1-minute load average ${round(loadBefore, 1)} before, ${round(os.loadavg()[0]!, 1)} after`,
      `c1 = CPU s / wall s of one convert (its hashing, file-reading, libuv and GC threads): ${round(c1)}; efficiency(N) <= efficiency_ceiling(N) = T1 * cores / (min(N, cores) * CPU(N)), reached when the partitions keep every core busy (core_use = 1)`,
      'partition time = wall time of the N processes started at once; efficiency = T1 / (T(N) * min(N, cores))',
      'plan share = the slowest convert --plan-only over the single convert; every output compared byte for byte',
      'efficiency_at_2 (the target): one process per core, pinned with taskset: T1 of one convert on core 0 over 2 x the wall time of the 2 partitions on cores 0 and 1 (pinned_efficiency_2). Unpinned, one convert already keeps c1 cores busy, so efficiency_2 cannot pass efficiency_ceiling_2 = cpu_efficiency_2 / c1 on 2 cores',
      'cpu_efficiency = CPU seconds of one convert / CPU seconds of the N partitions together (what partitioning adds, less dependent on load than wall time); cpu_efficiency_2_sequential: the 2 partitions run one after another, so they do not slow each other',
    ],
  };
}
