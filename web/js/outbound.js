// @ts-check
/**
 * What the console sends, as the browser measures it (getStats, once a second): the video's
 * bitrate, size, rate and codec, the audio's bitrate and codec, the round-trip time, and why
 * the browser sends less than asked when it does.
 */

import {byId as $, setText} from './dom.js';
import {formatNumber, t} from './i18n.js';
import {statsOf} from './whip.js';

/** A limitation counts once it lasts this many samples (the first seconds always ramp up). */
const LIMITATION_SAMPLES = 10;

export class Outbound {
    constructor() {
        /** @private @type {Record<string, {bytes: number, at: number}>} the previous sample, to make rates */
        this.previous = {};
        this.videoKbps = 0;
        this.audioKbps = 0;
        this.width = 0;
        this.height = 0;
        this.fps = 0;
        this.videoCodec = '';
        this.audioCodec = '';
        /** @type {number|null} */
        this.rttMs = null;
        /** Why the browser sends less than asked ('cpu', 'bandwidth'), and for how many samples. */
        this.limitation = '';
        this.limitedFor = 0;
    }

    /** A new connection: its rates start afresh. */
    reset() {
        this.previous = {};
    }

    /**
     * Measures the connection that sends the program, if it is up.
     * @param {import('./whip.js').MediaSession|null} session
     */
    async sample(session) {
        const stats = await statsOf(session);
        if (!stats) {
            this.previous = {};
            this.videoKbps = this.audioKbps = this.fps = 0;
            return;
        }
        const previous = this.previous;
        /** @type {Record<string, {bytes: number, at: number}>} */
        const next = {};
        let videoKbps = 0;
        let audioKbps = 0;
        this.rttMs = null;
        stats.forEach(report => {
            if (report.type === 'outbound-rtp') {
                const before = previous[report.id];
                next[report.id] = {bytes: report.bytesSent || 0, at: report.timestamp};
                const kbps = before && report.timestamp > before.at
                    ? (8 * ((report.bytesSent || 0) - before.bytes)) / (report.timestamp - before.at)
                    : 0;
                const codec = report.codecId ? stats.get(report.codecId) : null;
                const codecName = codec ? String(codec.mimeType).split('/')[1] || '' : '';
                if (report.kind === 'video') {
                    videoKbps += kbps;
                    this.width = report.frameWidth || 0;
                    this.height = report.frameHeight || 0;
                    this.fps = report.framesPerSecond || 0;
                    this.videoCodec = codecName;
                    const reason = report.qualityLimitationReason || 'none';
                    this.limitedFor = reason === this.limitation ? this.limitedFor + 1 : 1;
                    this.limitation = reason;
                } else if (report.kind === 'audio') {
                    audioKbps += kbps;
                    this.audioCodec = codecName;
                }
            } else if (report.type === 'candidate-pair' && report.nominated && report.state === 'succeeded') {
                if (typeof report.currentRoundTripTime === 'number')
                    this.rttMs = Math.round(report.currentRoundTripTime * 1000);
            }
        });
        this.previous = next;
        this.videoKbps = videoKbps;
        this.audioKbps = audioKbps;
    }

    /**
     * The video, audio and network cells.
     * @param {boolean} live whether the program is on air
     */
    render(live) {
        const video = [];
        if (live && this.width) {
            video.push(t('outbound.kbps', {value: formatNumber(this.videoKbps)}));
            video.push(`${this.width}×${this.height}`);
            video.push(t('outbound.fps', {value: formatNumber(this.fps)}));
            if (this.videoCodec)
                video.push(this.videoCodec);
        }
        setText($('out-video'), video.length ? video.join(' · ') : '—');
        const audio = [];
        if (live && this.audioCodec) {
            audio.push(t('outbound.kbps', {value: formatNumber(this.audioKbps)}));
            audio.push(this.audioCodec);
        }
        setText($('out-audio'), audio.length ? audio.join(' · ') : '—');
        const network = [];
        if (live && this.rttMs !== null)
            network.push(t('outbound.rtt', {value: formatNumber(this.rttMs)}));
        const limited = live && this.limitedFor >= LIMITATION_SAMPLES ? this.limitation : '';
        if (limited === 'cpu')
            network.push(t('outbound.limited_cpu'));
        else if (limited === 'bandwidth')
            network.push(t('outbound.limited_bandwidth'));
        const networkCell = $('out-network');
        setText(networkCell, network.length ? network.join(' · ') : '—');
        networkCell.dataset.tone = limited === 'cpu' || limited === 'bandwidth' ? 'warn' : '';
    }
}
