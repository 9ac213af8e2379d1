// bench/bench_ort.js - eval (inference) throughput of an exported model in
// ONNX Runtime (npm onnxruntime-node, CPU): the inference anchor beside
// resnet_bench --mode eval and bench_torch.py --mode eval.
//
//   node bench/bench_ort.js --onnx FILE [--model NAME] [--batch N] [--threads N]
//                           [--steps N] [--warmup N] [--modules DIR]
//
// FILE: an export of resnet_cifar export-onnx with a dynamic batch or the
// given one (bench/README.md: the weights of resnet_bench --save).  One
// InferenceSession, intra_op_num_threads = --threads, one inter-op thread,
// sequential execution, all graph optimisations; a fixed random input
// (N, 3, 32, 32); --warmup untimed runs, then --steps timed ones.  Prints
//   RESULT impl=ort model=resnet20 mode=eval batch=128 threads=2 steps=30 img_s=...
//          step_ms=... best_step_ms=... median_step_ms=... rss_mb=...
// img_s and step_ms over all timed steps (as resnet_bench), rss_mb the peak
// resident set.  The package is looked up normally (NODE_PATH), then in
// --modules (default build/node_modules, from scripts/ort_setup.sh).
'use strict';
const path = require('path');

function usage(msg) {
    if (msg) console.error(`bench_ort: ${msg}`);
    console.error('usage: node bench/bench_ort.js --onnx FILE [--model NAME] [--batch N] ' +
                  '[--threads N] [--steps N] [--warmup N] [--modules DIR]');
    process.exit(2);
}

function parse(argv) {
    const o = {onnx: null, model: 'resnet20', batch: 128, threads: 2, steps: 30, warmup: 3,
               modules: path.join(__dirname, '..', 'build', 'node_modules')};
    for (let i = 0; i < argv.length; i++) {
        const key = argv[i].replace(/^--/, ''), v = argv[i + 1];
        if (!argv[i].startsWith('--') || !(key in o) || v === undefined) usage(`bad argument '${argv[i]}'`);
        i++;
        if (typeof o[key] === 'number') {
            const n = Number(v);
            if (!Number.isInteger(n) || n < (key === 'warmup' ? 0 : 1)) usage(`--${key}: '${v}'`);
            o[key] = n;
        } else {
            o[key] = v;
        }
    }
    if (!o.onnx) usage('--onnx FILE is required');
    return o;
}

function loadOrt(modules) {
    try {
        return require('onnxruntime-node');
    } catch (e) {
        try {
            return require(path.join(path.resolve(modules), 'onnxruntime-node'));
        } catch (e2) {
            console.error(`bench_ort: onnxruntime-node not found (scripts/ort_setup.sh installs ` +
                          `it into build/node_modules): ${e2.message}`);
            process.exit(1);
        }
    }
}

async function main() {
    const o = parse(process.argv.slice(2));
    const ort = loadOrt(o.modules);
    const model = await ort.InferenceSession.create(o.onnx, {
        intraOpNumThreads: o.threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all'});
    // A fixed pseudo-random input (Box-Muller over a small LCG): N(0, 1).
    const n = o.batch * 3 * 32 * 32, x = new Float32Array(n);
    let s = 42;
    const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
    for (let i = 0; i < n; i++) x[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    const feeds = {[model.inputNames[0]]: new ort.Tensor('float32', x, [o.batch, 3, 32, 32])};
    for (let i = 0; i < o.warmup; i++) await model.run(feeds);
    const times = [];
    for (let i = 0; i < o.steps; i++) {
        const t0 = process.hrtime.bigint();
        await model.run(feeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const total = times.reduce((a, b) => a + b, 0);
    const sorted = [...times].sort((a, b) => a - b), m = sorted.length;
    const median = m % 2 ? sorted[(m - 1) / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
    const rss = process.resourceUsage().maxRSS / 1024;
    console.log(`RESULT impl=ort model=${o.model} mode=eval batch=${o.batch} threads=${o.threads} ` +
                `steps=${o.steps} img_s=${(o.batch * o.steps / total * 1e3).toFixed(1)} ` +
                `step_ms=${(total / o.steps).toFixed(2)} best_step_ms=${sorted[0].toFixed(2)} ` +
                `median_step_ms=${median.toFixed(2)} rss_mb=${rss.toFixed(1)}`);
}

main().catch((e) => {
    console.error(`bench_ort: ${e.message}`);
    process.exit(1);
});
