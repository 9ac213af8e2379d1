// tests/nn/onnx_check.js - run an exported model in ONNX Runtime (CPU) on
// the reference input and compare with tenet's logits.
//   node onnx_check.js DIR BATCH CLASSES TOL
// DIR holds model.onnx, input.bin (BATCH, 3, 32, 32) and logits.bin
// (BATCH, CLASSES), raw float32.  Prints "max_abs_diff=<d> max_abs_logit=<m>";
// exit status 1 when d > TOL or a value is not finite.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function readF32(file) {
    const b = fs.readFileSync(file);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

async function main() {
    const [dir, batchS, classesS, tolS] = process.argv.slice(2);
    const batch = Number(batchS), classes = Number(classesS), tol = Number(tolS);
    const x = readF32(path.join(dir, 'input.bin'));
    const want = readF32(path.join(dir, 'logits.bin'));
    const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'),
        {intraOpNumThreads: 1, graphOptimizationLevel: 'all'});
    const out = await session.run({input: new ort.Tensor('float32', x, [batch, 3, 32, 32])});
    const got = out.logits;
    if (got.dims.join(',') !== [batch, classes].join(',')) {
        console.log(`logits shape ${got.dims} != ${batch},${classes}`);
        process.exit(1);
    }
    let diff = 0, mag = 0;
    for (let i = 0; i < want.length; i++) {
        const d = Math.abs(got.data[i] - want[i]);
        if (!Number.isFinite(got.data[i]) || Number.isNaN(d)) diff = Infinity;
        else diff = Math.max(diff, d);
        mag = Math.max(mag, Math.abs(want[i]));
    }
    console.log(`max_abs_diff=${diff.toExponential(3)} max_abs_logit=${mag.toFixed(3)}`);
    process.exit(diff <= tol ? 0 : 1);
}

main().catch((e) => {
    console.log(`onnx_check: ${e.message}`);
    process.exit(1);
});
