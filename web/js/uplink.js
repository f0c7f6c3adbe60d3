// @ts-check
/**
 * A hall's return feed: its camera (small, at a low bitrate) and its microphone, silent until
 * the chair gives the hall the floor, sent over WHIP from the moment the hall joins; with no
 * camera it still sends its microphone, with neither the hall still joins and receives.
 *
 * Its size and bitrate come from the link's query, e.g. ?camera=180&kbps=200: camera 180, 270
 * or 360 (lines; 640x360 unless said), kbps 100 to 1000 (300 unless said).
 */

import {byId as $, setText} from './dom.js';
import {t} from './i18n.js';
import {ReconnectingSession} from './reconnecting.js';
import {publish} from './whip.js';

/** The return feed's sizes, by lines. */
const SIZES = /** @type {Record<string, {width: number, height: number}>} */ ({
    180: {width: 320, height: 180},
    270: {width: 480, height: 270},
    360: {width: 640, height: 360},
});
/** The return feed's bitrate limits, kbit/s. */
const KBPS = {min: 100, max: 1000, default: 300};
/** The return feed's frame rate: a hall, not a sports field. */
const FPS = 15;

/**
 * Why the hall sends no camera or microphone: the keys of the 'uplink.*' messages.
 * @typedef {'starting'|'denied'|'none'|'insecure'|'failed'} DeviceProblem
 */

/**
 * What the return feed needs of its page.
 * @typedef {Object} UplinkPage
 * @property {string} url the WHIP endpoint of this hall
 * @property {string} token
 * @property {() => RTCIceServer[]|undefined} iceServers read for every connection
 * @property {() => boolean} heard whether the microphone is heard now (the floor, not muted)
 * @property {() => boolean} over the page has stopped for good meanwhile
 * @property {() => void} invalid the server refused the link: ask it why
 * @property {() => void} changed something to draw
 */

export class Uplink {
    /** @param {UplinkPage} page */
    constructor(page) {
        /** @private */
        this.page = page;
        /** @type {MediaStream|null} */
        this.stream = null;
        /** @type {ReconnectingSession|null} */
        this.sender = null;
        /** @type {DeviceProblem|null} */
        this.problem = null;
        /** @private */
        this.video = /** @type {HTMLVideoElement} */ ($('self-video'));
    }

    /**
     * Opens the hall's camera and microphone, whichever it has, and sends them; the
     * microphone stays silent until the hall has the floor.
     */
    async start() {
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
            this.problem = window.isSecureContext ? 'failed' : 'insecure';
            this.page.changed();
            return;
        }
        const settings = uplinkSettings(location.search);
        const videoWanted = {
            width: {ideal: settings.width, max: 640},
            height: {ideal: settings.height, max: 360},
            frameRate: {ideal: FPS, max: 30},
        };
        const audioWanted = {echoCancellation: true, noiseSuppression: true, autoGainControl: true};
        this.problem = 'starting';
        this.page.changed();
        /** @type {MediaStream|null} */
        let stream = null;
        /** @type {unknown} */
        let refusal = null;
        // Both, else whichever the hall has: a hall without a camera still joins and listens.
        for (const constraints of [
            {video: videoWanted, audio: audioWanted},
            {video: false, audio: audioWanted},
            {video: videoWanted, audio: false},
        ]) {
            try {
                stream = await navigator.mediaDevices.getUserMedia(constraints);
                break;
            } catch (e) {
                refusal = refusal || e;
                if (e instanceof DOMException && (e.name === 'NotAllowedError' || e.name === 'SecurityError'))
                    break; // Asking again for less would not change the answer.
            }
        }
        if (this.page.over()) {
            stream?.getTracks().forEach(x => x.stop());
            return;
        }
        if (!stream) {
            this.problem = refusal instanceof DOMException && refusal.name === 'NotAllowedError'
                ? 'denied'
                : refusal instanceof DOMException && refusal.name === 'NotFoundError' ? 'none' : 'failed';
            this.page.changed();
            return;
        }
        const sent = stream;
        this.problem = null;
        this.stream = sent;
        this.applyMicrophone();
        this.video.srcObject = sent.getVideoTracks().length ? sent : null;
        void this.video.play().catch(() => {});
        const sender = new ReconnectingSession(() => publish(this.page.url, this.page.token, sent, {
            iceServers: this.page.iceServers(),
            videoCodec: 'VP8',
            maxVideoBitrate: settings.kbps * 1000,
            maxFramerate: FPS,
        }));
        sender.addEventListener('statechange', () => {
            const failure = sender.failure;
            if (failure && failure.failure === 'invalid_link')
                this.page.invalid();
            this.page.changed();
        });
        this.sender = sender;
        sender.start();
        this.page.changed();
    }

    /** Stops sending, for good, and lets go of the camera and microphone. */
    stop() {
        void this.sender?.stop({tellServer: false});
        this.sender = null;
        if (this.stream)
            for (const track of this.stream.getTracks())
                track.stop();
        this.stream = null;
        this.video.srcObject = null;
    }

    /** The microphone is heard only while this hall has the floor and the chair has not muted it. */
    applyMicrophone() {
        const open = this.page.heard();
        if (this.stream)
            for (const track of this.stream.getAudioTracks())
                track.enabled = open;
    }

    /** @returns {boolean} */
    get hasMicrophone() {
        return this.stream !== null && this.stream.getAudioTracks().length > 0;
    }

    /**
     * What the hall sends: whether its camera goes out, whether its microphone is heard, how
     * the connection stands. For people checking from the browser's console, and for the tests.
     * @returns {{camera: boolean, microphone: 'on'|'off'|'none', sending: string}}
     */
    state() {
        const stream = this.stream;
        const audio = stream ? stream.getAudioTracks() : [];
        return {
            camera: stream !== null && stream.getVideoTracks().length > 0,
            microphone: audio.length === 0 ? 'none' : audio.some(x => x.enabled) ? 'on' : 'off',
            sending: this.sender ? this.sender.state : 'idle',
        };
    }

    /**
     * The small picture of what the hall sends, and whether its microphone is heard.
     * @param {boolean} shown whether the page shows it at all: not before it knows the session,
     *     nor after the end
     */
    render(shown) {
        const figure = $('self');
        const stream = this.stream;
        const camera = stream !== null && stream.getVideoTracks().length > 0;
        figure.hidden = !(shown && (stream !== null || this.problem !== null));
        figure.dataset.camera = String(camera);
        const sender = this.sender;
        figure.dataset.sending = String(sender !== null && sender.state === 'connected');
        /** @type {string} */
        let caption;
        if (this.problem)
            caption = problemText(this.problem);
        else if (!camera)
            caption = t('uplink.no_camera');
        else if (sender && (sender.state === 'waiting' || sender.state === 'unstable'))
            caption = t('uplink.reconnecting');
        else if (sender && sender.state !== 'connected')
            caption = t('uplink.connecting');
        else if (this.hasMicrophone && this.page.heard())
            caption = t('uplink.sending_mic_on');
        else
            caption = t('uplink.sending');
        setText($('self-caption'), caption);
    }
}

/**
 * The return feed's size and bitrate, from the link's query (?camera=180&kbps=200).
 * @param {string} search
 * @returns {{width: number, height: number, kbps: number}}
 */
function uplinkSettings(search) {
    const query = new URLSearchParams(search);
    const size = SIZES[query.get('camera') || ''] || SIZES[360];
    const asked = Number(query.get('kbps'));
    const kbps = Number.isFinite(asked) && asked > 0
        ? Math.min(KBPS.max, Math.max(KBPS.min, Math.round(asked)))
        : KBPS.default;
    return {...size, kbps};
}

/**
 * @param {DeviceProblem} problem
 * @returns {string}
 */
function problemText(problem) {
    switch (problem) {
    case 'starting':
        return t('uplink.starting');
    case 'denied':
        return t('uplink.denied');
    case 'none':
        return t('uplink.none');
    case 'insecure':
        return t('uplink.insecure');
    default:
        return t('uplink.failed');
    }
}
