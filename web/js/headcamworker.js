// @ts-check
/**
 * The camera count's worker: it takes one picture of the hall, counts the faces in it (the
 * whole picture, then overlapping tiles, headcamtiles.js) and answers with the number alone.
 * The picture is dropped once counted; nothing of it leaves the worker.
 *
 * BlazeFace through Human (web/vendor/human, MIT) on TensorFlow.js's WASM backend
 * (web/vendor/tfjs-wasm, Apache-2.0), every file from this server: both paths are set here, or
 * Human reaches for a CDN. WASM rather than WebGL: without a GPU WebGL is software and slow.
 *
 * In a worker, not the page: the page's Content-Security-Policy allows no WebAssembly, and a
 * worker takes the policy its own script is served with (static files carry none); the
 * page's main thread stays free for the broadcast too.
 *
 * Messages in:  {type: 'count', frame: ImageBitmap, threshold, cols, rows, overlap}
 * Messages out: {type: 'count', count, faces_whole, ms} or {type: 'error', message}
 */

import {cutByTile, mergeFaces, tiles} from './headcamtiles.js';

/** Boxes of one face overlap this much (of the smaller box) across the whole and tiles. */
const SAME_FACE = 0.5;

const HUMAN_URL = new URL('../vendor/human/human.esm.js', import.meta.url).href;

/** @type {Promise<any>|null} */
let loading = null;

/**
 * Human with only its face detector, loaded once.
 * @param {number} threshold
 */
async function detector(threshold) {
    if (!loading) {
        loading = (async () => {
            // A specifier in a variable: the type checker leaves the vendored bundle alone.
            const {Human} = await import(HUMAN_URL);
            const human = new Human({
                backend: 'wasm',
                wasmPath: new URL('../vendor/tfjs-wasm/', import.meta.url).href,
                modelBasePath: new URL('../vendor/human/models/', import.meta.url).href,
                debug: false,
                async: true,
                warmup: 'none',
                // Every call is a new picture or tile: no result is taken from a cache.
                cacheSensitivity: 0,
                skipAllowed: false,
                filter: {enabled: false},
                gesture: {enabled: false},
                face: {
                    enabled: true,
                    detector: {
                        modelPath: 'blazeface.json', rotation: false, maxDetected: 100,
                        minConfidence: threshold, iouThreshold: 0.3, skipFrames: 0, skipTime: 0,
                        return: false,
                    },
                    mesh: {enabled: false},
                    attention: {enabled: false},
                    iris: {enabled: false},
                    emotion: {enabled: false},
                    description: {enabled: false},
                    antispoof: {enabled: false},
                    liveness: {enabled: false},
                },
                body: {enabled: false},
                hand: {enabled: false},
                object: {enabled: false},
                segmentation: {enabled: false},
            });
            await human.load();
            return human;
        })();
        loading.catch(() => { loading = null; });
    }
    const human = await loading;
    human.config.face.detector.minConfidence = threshold;
    return human;
}

/**
 * The faces Human finds in a canvas, in the canvas's pixels.
 * @param {any} human
 * @param {OffscreenCanvas} canvas
 * @returns {Promise<import('./headcamtiles.js').Face[]>}
 */
async function faces(human, canvas) {
    const result = await human.detect(canvas);
    return (result.face || []).map((/** @type {any} */ face) => ({
        x: face.box[0],
        y: face.box[1],
        width: face.box[2],
        height: face.box[3],
        score: face.boxScore ?? face.score ?? 0,
    }));
}

/**
 * @param {{frame: ImageBitmap, threshold: number, cols: number, rows: number, overlap: number}} asked
 */
async function count(asked) {
    const started = performance.now();
    const {frame} = asked;
    try {
        const human = await detector(asked.threshold);
        const whole = new OffscreenCanvas(frame.width, frame.height);
        const wholeContext = /** @type {OffscreenCanvasRenderingContext2D} */ (whole.getContext('2d'));
        wholeContext.drawImage(frame, 0, 0);
        const found = await faces(human, whole);
        const fromWhole = found.length;
        for (const tile of tiles(frame.width, frame.height, asked.cols, asked.rows, asked.overlap)) {
            const canvas = new OffscreenCanvas(tile.width, tile.height);
            const context = /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext('2d'));
            context.drawImage(frame, tile.x, tile.y, tile.width, tile.height, 0, 0, tile.width, tile.height);
            for (const face of await faces(human, canvas)) {
                if (!cutByTile(face, tile, frame.width, frame.height))
                    found.push({...face, x: face.x + tile.x, y: face.y + tile.y});
            }
        }
        const counted = mergeFaces(found, SAME_FACE).length;
        globalThis.postMessage({
            type: 'count', count: counted, faces_whole: fromWhole,
            ms: Math.round(performance.now() - started),
        });
    } finally {
        frame.close();
    }
}

globalThis.addEventListener('message', event => {
    const asked = /** @type {MessageEvent} */ (event).data;
    if (asked?.type !== 'count')
        return;
    count(asked).catch(error => {
        globalThis.postMessage({type: 'error', message: String(error?.message || error)});
    });
});
