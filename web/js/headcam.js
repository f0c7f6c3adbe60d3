// @ts-check
/**
 * The join page's camera count: while the session is live, every 30 s the page counts the
 * faces its camera sees (headcamworker.js: BlazeFace on the whole picture and on overlapping
 * tiles) and sends the number, an estimate, to the server as a `people_count` event. Only the
 * number leaves the hall: the picture is counted in this browser and dropped.
 *
 * The page says so while it counts (a line under the picture of the hall's camera, with the
 * last count), and the hall may opt out with its button; the choice is remembered in this
 * browser. join.js creates it,
 * opens the camera through it before the return feed's (so that the camera runs at the
 * counting size and the return feed is scaled down from it), and tells it the page's phase.
 *
 * The link's query sets it, as it sets the return feed (uplink.js):
 *   count_every      seconds between counts, 5 to 3600 (30)
 *   count_threshold  the detector's least score for a face, 0.05 to 0.95 (0.5)
 *   count_tiles      the grid of tiles besides the whole picture, COLSxROWS up to 6x6, 0 for
 *                    none (3x2)
 *   count_overlap    how much neighbouring tiles overlap, 0 to 0.5 (0.2)
 */

import {element, setText} from './dom.js';
import {formatTime, onLanguageChange, t} from './i18n.js';

/** Where the choice to opt out is remembered (per browser: one hall's PC). */
const OPT_OUT_KEY = 'diemcau.headcam.off';
/** The picture the counter asks the camera for: faces at the back need the pixels. */
const CAPTURE = {width: 1280, height: 720};
/** A count that takes longer than this is given up, in ms. */
const COUNT_LIMIT = 120_000;

/**
 * @typedef {Object} HeadcamSettings
 * @property {number} every seconds between counts
 * @property {number} threshold
 * @property {number} cols
 * @property {number} rows
 * @property {number} overlap
 */

/**
 * What the counter is doing, for its badge: 'off' opted out, 'waiting' for the next count,
 * 'counting' now, 'failed' the last count failed (no camera, a detector that would not load).
 * @typedef {'off'|'waiting'|'counting'|'failed'} HeadcamState
 */

/**
 * @param {string} search the link's query
 * @returns {HeadcamSettings}
 */
export function headcamSettings(search) {
    const query = new URLSearchParams(search);
    /**
     * @param {string} name
     * @param {number} low
     * @param {number} high
     * @param {number} fallback
     */
    const number = (name, low, high, fallback) => {
        const text = query.get(name);
        const value = text === null || text === '' ? NaN : Number(text);
        return Number.isFinite(value) && value >= low && value <= high ? value : fallback;
    };
    const tiles = /^(\d)x(\d)$/.exec(query.get('count_tiles') || '');
    const grid = query.get('count_tiles') === '0' ? [0, 0]
        : tiles && Number(tiles[1]) >= 1 && Number(tiles[1]) <= 6 && Number(tiles[2]) >= 1
            && Number(tiles[2]) <= 6 ? [Number(tiles[1]), Number(tiles[2])] : [3, 2];
    return {
        every: number('count_every', 5, 3600, 30),
        threshold: number('count_threshold', 0.05, 0.95, 0.5),
        cols: grid[0],
        rows: grid[1],
        overlap: number('count_overlap', 0, 0.5, 0.2),
    };
}

export class Headcam {
    /**
     * @param {string} sessionId
     * @param {string} siteId
     * @param {string} token the site's token
     */
    constructor(sessionId, siteId, token) {
        /** @private */
        this.url = `/api/sessions/${encodeURIComponent(sessionId)}/sites/${encodeURIComponent(siteId)}/people_count`;
        /** @private */
        this.token = token;
        this.settings = headcamSettings(location.search);
        this.enabled = readOptOut() !== 'off';
        /** @type {HeadcamState} */
        this.state = this.enabled ? 'waiting' : 'off';
        /** @type {{count: number, at: number, ms: number}|null} the last count sent */
        this.last = null;
        /** @type {MediaStream|null} */
        this.stream = null;
        /** @type {Worker|null} */
        this.worker = null;
        /** @type {ReturnType<typeof setTimeout>|null} */
        this.timer = null;
        this.live = false;
        this.over = false;
        /** @private */
        this.video = /** @type {HTMLVideoElement} */ (element('video'));
        this.video.muted = true;
        this.video.playsInline = true;

        this.root = element('p', 'headcam');
        this.root.id = 'headcam';
        this.root.hidden = true;
        this.root.setAttribute('role', 'status');
        this.text = element('span', 'headcam-text');
        this.text.id = 'headcam-text';
        this.button = /** @type {HTMLButtonElement} */ (element('button', 'button ghost headcam-toggle'));
        this.button.id = 'headcam-toggle';
        this.button.type = 'button';
        this.button.addEventListener('click', () => void this.toggle());
        this.root.append(this.text, this.button);
        // Under the small picture of the hall's camera (uplink.js): it is that camera counting.
        (document.getElementById('self') || document.body).append(this.root);
        onLanguageChange(() => this.draw());
    }

    /** Opens the camera at the counting size, unless the hall opted out; never throws. */
    async open() {
        if (!this.enabled || this.stream || this.over || !navigator.mediaDevices?.getUserMedia)
            return;
        try {
            this.stream = await navigator.mediaDevices.getUserMedia({
                video: {width: {ideal: CAPTURE.width}, height: {ideal: CAPTURE.height}},
                audio: false,
            });
        } catch {
            this.state = 'failed'; // no camera, or refused: the return feed says which
            this.draw();
            return;
        }
        if (!this.enabled || this.over) {
            this.close();
            return;
        }
        this.video.srcObject = this.stream;
        void this.video.play().catch(() => {});
    }

    /**
     * The page's phase: counts are taken while it is live, and stop for good once it is over.
     * @param {string} phase join.js's Phase
     */
    render(phase) {
        const over = ['ended', 'invalid', 'not_found', 'unsupported', 'removed'].includes(phase);
        if (over && !this.over) {
            this.over = true;
            this.close();
        }
        this.live = phase === 'live' && !this.over;
        if (this.live && this.enabled && !this.timer && this.state !== 'counting')
            this.schedule();
        if (!this.live)
            this.cancel();
        this.draw();
    }

    /** @private */
    schedule() {
        this.cancel();
        this.timer = setTimeout(() => {
            this.timer = null;
            void this.countNow();
        }, this.settings.every * 1000);
    }

    /** @private */
    cancel() {
        if (this.timer)
            clearTimeout(this.timer);
        this.timer = null;
    }

    /** Counts once and sends the number; schedules the next count while live. */
    async countNow() {
        if (!this.enabled || !this.live)
            return;
        this.state = 'counting';
        this.draw();
        try {
            await this.open();
            if (!this.stream)
                throw new Error('no camera');
            const answer = await this.count(await this.grab());
            if (!this.enabled || !this.live)
                return;
            await this.send(answer.count);
            this.last = {count: answer.count, at: Date.now(), ms: answer.ms};
            this.state = 'waiting';
        } catch {
            this.state = this.enabled ? 'failed' : 'off';
        } finally {
            if (this.enabled && this.live && !this.timer)
                this.schedule();
            this.draw();
        }
    }

    /**
     * One picture of the camera, once it shows one: its first frames are blank.
     * @private
     * @returns {Promise<ImageBitmap>}
     */
    async grab() {
        const video = this.video;
        // A frame presented, not merely metadata: Chromium's earliest frames are blank. Not
        // every browser presents frames of a video outside the page: a few seconds, then on.
        await new Promise(resolve => {
            video.requestVideoFrameCallback(() => resolve(undefined));
            setTimeout(resolve, 3000);
        });
        if (video.videoWidth === 0)
            throw new Error('the camera shows no picture');
        return createImageBitmap(video);
    }

    /**
     * @private
     * @param {ImageBitmap} frame handed over to the worker
     * @returns {Promise<{count: number, ms: number}>}
     */
    count(frame) {
        if (!this.worker)
            this.worker = new Worker(new URL('./headcamworker.js', import.meta.url), {type: 'module'});
        const worker = this.worker;
        const {threshold, cols, rows, overlap} = this.settings;
        return new Promise((resolve, reject) => {
            const limit = setTimeout(() => done(() => reject(new Error('count timed out'))), COUNT_LIMIT);
            /** @param {() => void} settle */
            const done = settle => {
                clearTimeout(limit);
                worker.removeEventListener('message', heard);
                worker.removeEventListener('error', failed);
                settle();
            };
            /** @param {MessageEvent} event */
            const heard = event => {
                const answer = event.data;
                if (answer?.type === 'count' && Number.isInteger(answer.count))
                    done(() => resolve({count: answer.count, ms: Number(answer.ms) || 0}));
                else
                    done(() => reject(new Error(String(answer?.message || 'count failed'))));
            };
            /** @param {ErrorEvent} event */
            const failed = event => done(() => reject(new Error(event.message)));
            worker.addEventListener('message', heard);
            worker.addEventListener('error', failed);
            worker.postMessage({type: 'count', frame, threshold, cols, rows, overlap}, [frame]);
        });
    }

    /**
     * @private
     * @param {number} count
     */
    async send(count) {
        const response = await fetch(this.url, {
            method: 'POST',
            headers: {'Authorization': `Bearer ${this.token}`, 'Content-Type': 'application/json'},
            body: JSON.stringify({count}),
        });
        if (!response.ok)
            throw new Error(`people_count answered ${response.status}`);
    }

    /** The hall opts out (the camera's counting stream closes) or back in. */
    async toggle() {
        this.enabled = !this.enabled;
        writeOptOut(this.enabled ? null : 'off');
        if (this.enabled) {
            this.state = 'waiting';
            await this.open();
            if (this.live)
                this.schedule();
        } else {
            this.state = 'off';
            this.cancel();
            this.close();
        }
        this.draw();
    }

    /** @private */
    close() {
        this.stream?.getTracks().forEach(track => track.stop());
        this.stream = null;
        this.video.srcObject = null;
        this.worker?.terminate();
        this.worker = null;
    }

    /** @private */
    draw() {
        this.root.hidden = !this.live;
        this.root.dataset.state = this.state;
        this.root.dataset.count = this.last ? String(this.last.count) : '';
        this.root.dataset.ms = this.last ? String(this.last.ms) : '';
        const last = this.last
            ? t('headcam.last', {count: this.last.count, time: formatTime(this.last.at)})
            : '';
        const words = {
            off: t('headcam.off'),
            waiting: last ? `${t('headcam.on')} ${last}` : t('headcam.on'),
            counting: t('headcam.counting'),
            failed: t('headcam.failed'),
        };
        setText(this.text, words[this.state]);
        this.root.title = t('headcam.privacy');
        setText(this.button, t(this.enabled ? 'headcam.opt_out' : 'headcam.opt_in'));
    }
}

/** @returns {string|null} */
function readOptOut() {
    try {
        return localStorage.getItem(OPT_OUT_KEY);
    } catch {
        return null; // storage refused: counting, as by default
    }
}

/** @param {string|null} value */
function writeOptOut(value) {
    try {
        if (value === null)
            localStorage.removeItem(OPT_OUT_KEY);
        else
            localStorage.setItem(OPT_OUT_KEY, value);
    } catch {
        // Not remembered: the choice holds for this page only.
    }
}
