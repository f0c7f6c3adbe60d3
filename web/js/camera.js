// @ts-check
/**
 * The console's camera and microphone: the capture previewed and sent, the device and size
 * lists, the codec to send with, the microphone's level meter, and the choices this computer
 * made last time.
 */

import {byId as $, setText} from './dom.js';
import {t} from './i18n.js';

/** Capture sizes offered, by the height the operator picks. */
const RESOLUTIONS = /** @type {Record<string, {width: number, height: number}>} */ ({
    1080: {width: 1920, height: 1080},
    720: {width: 1280, height: 720},
    360: {width: 640, height: 360},
});

/** Where the devices and settings picked last time on this computer are kept. */
const CHOICES_KEY = 'diemcau.console.choices';

/**
 * Why there is no camera picture: the keys of the 'camera.*' messages.
 * @typedef {'denied'|'not_found'|'busy'|'insecure'|'failed'} CameraProblem
 */

/**
 * @typedef {Object} CameraPage
 * @property {() => boolean} ready whether the page may open the camera now
 * @property {(stream: MediaStream) => Promise<void>} captured a new stream (send it, if on air)
 * @property {() => void} changed something to draw
 */

export class Camera {
    /** @param {CameraPage} page */
    constructor(page) {
        /** @private */
        this.page = page;
        /** @type {MediaStream|null} the camera and microphone, as previewed and sent */
        this.stream = null;
        /** @type {CameraProblem|null} */
        this.problem = null;
        /** True while the browser opens the devices (or asks the operator whether it may). */
        this.starting = false;
        /** @private @type {MediaDeviceInfo[]} */
        this.devices = [];
        /** @private @type {AudioContext|null} */
        this.audioContext = null;
        /** @private @type {AnalyserNode|null} */
        this.analyser = null;
        /** @private @type {MediaStreamAudioSourceNode|null} */
        this.analyserSource = null;
        /** @private */
        this.preview = /** @type {HTMLVideoElement} */ ($('preview'));
        /** @private */
        this.cameraSelect = /** @type {HTMLSelectElement} */ ($('camera'));
        /** @private */
        this.microphoneSelect = /** @type {HTMLSelectElement} */ ($('microphone'));
        /** @private */
        this.resolutionSelect = /** @type {HTMLSelectElement} */ ($('resolution'));
        /** @private */
        this.codecSelect = /** @type {HTMLSelectElement} */ ($('codec'));
        /** @private */
        this.levelMeter = /** @type {HTMLMeterElement} */ ($('level'));
        this.restoreChoices();
        this.bind();
    }

    /** @returns {'VP8'|'H264'} the video codec to send with */
    get videoCodec() {
        return this.codecSelect.value === 'H264' ? 'H264' : 'VP8';
    }

    /**
     * Opens the chosen camera and microphone (or replaces one of them while on air).
     * @param {'video'|'audio'} [only] change only this kind, keep the other track
     */
    async start(only) {
        if (!this.page.ready() || this.starting)
            return;
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
            this.problem = window.isSecureContext ? 'failed' : 'insecure';
            this.page.changed();
            return;
        }
        this.starting = true;
        this.page.changed();
        const size = RESOLUTIONS[this.resolutionSelect.value] || RESOLUTIONS[720];
        const wantVideo = only !== 'audio';
        const wantAudio = only !== 'video';
        // Some cameras can't be opened twice: let go of the old track first.
        const kept = this.stream ? this.stream.getTracks().filter(track => {
            const replace = track.kind === 'video' ? wantVideo : wantAudio;
            if (replace)
                track.stop();
            return !replace;
        }) : [];
        /** @param {boolean} chosen use the devices picked in the lists, else the defaults */
        const constraints = chosen => ({
            video: wantVideo && {
                deviceId: chosen && this.cameraSelect.value ? {exact: this.cameraSelect.value} : undefined,
                width: {ideal: size.width},
                height: {ideal: size.height},
                frameRate: {ideal: 30},
            },
            audio: wantAudio && {
                deviceId: chosen && this.microphoneSelect.value
                    ? {exact: this.microphoneSelect.value} : undefined,
            },
        });
        try {
            let captured;
            try {
                captured = await navigator.mediaDevices.getUserMedia(constraints(true));
            } catch (e) {
                // A remembered device that is gone: take the default one.
                if (!(e instanceof DOMException) || e.name !== 'OverconstrainedError')
                    throw e;
                captured = await navigator.mediaDevices.getUserMedia(constraints(false));
            }
            const stream = new MediaStream([...kept, ...captured.getTracks()]);
            this.stream = stream;
            this.problem = null;
            this.preview.srcObject = stream;
            void this.preview.play().catch(() => {});
            await this.page.captured(stream);
            this.watchLevel(stream);
            await this.listDevices();
        } catch (e) {
            this.problem = problemOf(e);
            this.stream = kept.length ? new MediaStream(kept) : null;
            this.preview.srcObject = this.stream;
            await this.listDevices();
        } finally {
            this.starting = false;
            this.page.changed();
        }
    }

    /** Lets go of the camera and microphone. */
    stop() {
        if (this.stream)
            for (const track of this.stream.getTracks())
                track.stop();
        this.stream = null;
        this.preview.srcObject = null;
        if (this.analyserSource)
            this.analyserSource.disconnect();
        this.analyserSource = null;
    }

    /** The level meter needs a running AudioContext, which needs a gesture: one came. */
    resumeAudio() {
        void this.audioContext?.resume();
    }

    /** Ten times a second: the microphone's peak level, 0 to 1. */
    updateLevel() {
        const analyser = this.analyser;
        const meter = this.levelMeter;
        if (!analyser || !this.audioContext || this.audioContext.state !== 'running' || !this.stream) {
            meter.value = 0;
            return;
        }
        const samples = new Float32Array(analyser.fftSize);
        analyser.getFloatTimeDomainData(samples);
        let peak = 0;
        for (const sample of samples)
            peak = Math.max(peak, Math.abs(sample));
        // Decay slowly so that speech reads as a steady bar.
        meter.value = Math.max(peak, meter.value * 0.8);
    }

    /**
     * The lists and the camera's trouble, as the page stands.
     * @param {{ended: boolean, onAir: boolean}} page
     */
    render({ended, onAir}) {
        this.codecSelect.disabled = ended || onAir;
        for (const select of [this.cameraSelect, this.microphoneSelect, this.resolutionSelect])
            select.disabled = ended || this.starting;
        // While the browser asks for permission, say what it waits for.
        const asking = this.starting && !this.stream;
        $('camera-problem').hidden = ended || (!this.problem && !asking);
        setText($('camera-problem-text'), this.problem ? problemText(this.problem)
            : asking ? t('camera.starting') : '');
        $('camera-retry').hidden = !this.problem || this.problem === 'insecure';
    }

    /** Fills the camera and microphone lists (labels are known after the first capture). */
    renderDeviceLists() {
        /** @param {'video'|'audio'} kind */
        const current = kind => {
            const track = this.stream && this.stream.getTracks().find(x => x.kind === kind);
            return track ? track.getSettings().deviceId || '' : '';
        };
        fillDeviceSelect(this.cameraSelect, this.devices.filter(d => d.kind === 'videoinput'),
            current('video'), n => t('console.camera_n', {n}));
        fillDeviceSelect(this.microphoneSelect, this.devices.filter(d => d.kind === 'audioinput'),
            current('audio'), n => t('console.microphone_n', {n}));
    }

    /** @private */
    async listDevices() {
        try {
            this.devices = await navigator.mediaDevices.enumerateDevices();
        } catch {
            this.devices = [];
        }
        this.renderDeviceLists();
    }

    /**
     * Feeds the microphone to the level meter.
     * @private
     * @param {MediaStream} stream
     */
    watchLevel(stream) {
        const track = stream.getAudioTracks()[0];
        if (this.analyserSource) {
            this.analyserSource.disconnect();
            this.analyserSource = null;
        }
        if (!track || typeof AudioContext === 'undefined')
            return;
        if (!this.audioContext) {
            this.audioContext = new AudioContext();
            this.analyser = this.audioContext.createAnalyser();
            this.analyser.fftSize = 1024;
        }
        this.analyserSource = this.audioContext.createMediaStreamSource(new MediaStream([track]));
        if (this.analyser)
            this.analyserSource.connect(this.analyser);
    }

    /** @private */
    bind() {
        $('camera-retry').addEventListener('click', () => void this.start());
        this.cameraSelect.addEventListener('change', () => {
            this.saveChoices();
            void this.start('video');
        });
        this.resolutionSelect.addEventListener('change', () => {
            this.saveChoices();
            void this.start('video');
        });
        this.microphoneSelect.addEventListener('change', () => {
            this.saveChoices();
            void this.start('audio');
        });
        this.codecSelect.addEventListener('change', () => this.saveChoices());
        document.addEventListener('pointerdown', () => this.resumeAudio(), {passive: true});
        if (navigator.mediaDevices && 'ondevicechange' in navigator.mediaDevices)
            navigator.mediaDevices.addEventListener('devicechange', () => void this.listDevices());
    }

    /**
     * The devices and settings picked last time on this computer.
     * @private
     */
    restoreChoices() {
        try {
            const choices = JSON.parse(localStorage.getItem(CHOICES_KEY) || '{}');
            if (choices.resolution in RESOLUTIONS)
                this.resolutionSelect.value = choices.resolution;
            if (choices.codec === 'VP8' || choices.codec === 'H264')
                this.codecSelect.value = choices.codec;
            // Device ids are only usable once the lists are filled; keep them as the first pick.
            /** @type {[HTMLSelectElement, unknown][]} */
            const picked = [[this.cameraSelect, choices.camera], [this.microphoneSelect, choices.microphone]];
            for (const [select, id] of picked) {
                if (typeof id === 'string' && id) {
                    const option = document.createElement('option');
                    option.value = id;
                    option.selected = true;
                    select.append(option);
                }
            }
        } catch {
            // Nothing stored, or storage disabled.
        }
    }

    /** @private */
    saveChoices() {
        try {
            localStorage.setItem(CHOICES_KEY, JSON.stringify({
                camera: this.cameraSelect.value,
                microphone: this.microphoneSelect.value,
                resolution: this.resolutionSelect.value,
                codec: this.codecSelect.value,
            }));
        } catch {
            // Storage disabled.
        }
    }
}

/**
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} list
 * @param {string} selected deviceId in use
 * @param {(n: number) => string} unnamed label for a device the browser doesn't name
 */
function fillDeviceSelect(select, list, selected, unnamed) {
    select.replaceChildren(...list.map((device, i) => {
        const option = document.createElement('option');
        option.value = device.deviceId;
        option.textContent = device.label || unnamed(i + 1);
        option.selected = device.deviceId === selected;
        return option;
    }));
    if (list.length === 0) {
        const option = document.createElement('option');
        option.value = '';
        option.textContent = t('console.no_device');
        select.append(option);
    }
}

/**
 * @param {unknown} e what getUserMedia threw
 * @returns {CameraProblem}
 */
function problemOf(e) {
    const name = e instanceof DOMException ? e.name : '';
    if (name === 'NotAllowedError' || name === 'SecurityError')
        return 'denied';
    if (name === 'NotFoundError' || name === 'OverconstrainedError')
        return 'not_found';
    if (name === 'NotReadableError' || name === 'AbortError')
        return 'busy';
    return 'failed';
}

/**
 * @param {CameraProblem} problem
 * @returns {string}
 */
function problemText(problem) {
    switch (problem) {
    case 'denied':
        return t('camera.denied');
    case 'not_found':
        return t('camera.not_found');
    case 'busy':
        return t('camera.busy');
    case 'insecure':
        return t('camera.insecure');
    default:
        return t('camera.failed');
    }
}
