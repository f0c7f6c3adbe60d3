// @ts-check
/**
 * The console's mosaic: one tile per invited hall, showing its return feed (its hall camera),
 * its name, its state in colour and in words, the quality of the tile's own connection
 * (round-trip time, loss, bitrate, from getStats) and the headcount it reported.
 *
 * Each tile plays the hall's feed over WHEP, video only, at /whep/{session}/host/uplink/{site}.
 * The server accepts a tile before the hall publishes and starts the frames when it does, so
 * a tile connects once and waits; a connection that fails is made again with backoff.
 */

import {element, setText} from './dom.js';
import {formatNumber, t} from './i18n.js';
import {PictureSampler} from './picture.js';
import {ReconnectingSession} from './reconnecting.js';
import {play, statsOf} from './whip.js';

/** Between the first connections of two tiles, so that 30 tiles don't knock at once, in ms. */
const START_SPACING = 150;
/** How often each tile's connection is measured, in ms. */
const STATS_INTERVAL = 2000;

/**
 * A hall as its tile shows it: 'connected' (its page is open or its player connected),
 * 'reconnecting' (it was, and is not now), 'absent' (not joined yet), 'removed' by the chair.
 * @typedef {'connected'|'reconnecting'|'absent'|'removed'} TileState
 */

/**
 * What the console knows of one hall, for its tile.
 * @typedef {Object} TileInfo
 * @property {string} site
 * @property {string} name
 * @property {string} kindText the kind in words ('Xã', 'Thị trấn'…), '' if unknown
 * @property {number} expected people expected
 * @property {TileState} state
 * @property {number|null} headcount people reported present, null when not reported
 * @property {{present: number, expected: number, excused: number}|null} checkedIn its roster's
 *     people checked in so far, and excused; null without a roster
 * @property {boolean} floor it has the floor
 * @property {number} request its place in the queue of requests, 1 for the oldest; 0 if none
 * @property {boolean} muted the chair muted it
 */

/**
 * The tile's connection, measured: null where not known.
 * @typedef {Object} LinkQuality
 * @property {number|null} rttMs
 * @property {number|null} loss share of packets lost over the last interval, 0 to 1
 * @property {number|null} kbps
 * @property {'good'|'fair'|'poor'|'none'} grade
 */


/** The icons' paths, 24x24: people (the headcount) and a struck microphone (muted). */
const ICONS = {
    people: 'M16 11a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm-8 0a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm0 2c-2.7 0-8 1.3-8 4v3h16v-3c0-2.7-5.3-4-8-4zm8 0c-.3 0-.7 0-1.1.1A4.8 4.8 0 0 1 17 17v3h7v-3c0-2.7-5.3-4-8-4z',
    muted: 'M19 11h-1.7c0 .7-.2 1.4-.4 2l1.2 1.2c.6-.9.9-2 .9-3.2zm-4 .2V5a3 3 0 0 0-6-.2l6 6.4zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5.3a6.8 6.8 0 0 0 5.7 6.7V21h2v-3.3a7 7 0 0 0 2.9-1.1l4.8 4.7 1.3-1.3L4.3 3z',
};

/**
 * An icon, hidden from screen readers (the words are in the tile's label).
 * @param {keyof typeof ICONS} name
 * @returns {SVGSVGElement}
 */
function icon(name) {
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('fill', 'currentColor');
    path.setAttribute('d', ICONS[name]);
    svg.append(path);
    return svg;
}

/**
 * Puts `elements` first in `parent`, in this order, moving only those out of place: a moved
 * element loses the keyboard focus, and a moved <video> may pause.
 * @param {HTMLElement} parent
 * @param {HTMLElement[]} elements
 */
export function arrange(parent, elements) {
    elements.forEach((child, index) => {
        const there = parent.children[index] || null;
        if (there !== child)
            parent.insertBefore(child, there);
    });
}

/**
 * The grade of a connection, for its colour.
 * @param {number|null} rttMs
 * @param {number|null} loss
 * @returns {LinkQuality['grade']}
 */
export function grade(rttMs, loss) {
    if (rttMs === null && loss === null)
        return 'none';
    const rtt = rttMs ?? 0;
    const lost = loss ?? 0;
    if (rtt > 400 || lost > 0.08)
        return 'poor';
    if (rtt > 150 || lost > 0.02)
        return 'fair';
    return 'good';
}

/** One hall's tile. */
export class Tile {
    /**
     * @param {TileInfo} info
     * @param {(site: string) => void} onOpen
     */
    constructor(info, onOpen) {
        /** @type {TileInfo} */
        this.info = info;
        this.element = /** @type {HTMLLIElement} */ (element('li', 'tile'));
        this.element.dataset.site = info.site;
        const button = element('button', 'tile-button');
        button.setAttribute('type', 'button');
        button.addEventListener('click', () => onOpen(this.info.site));
        this.button = button;
        const picture = element('span', 'tile-picture');
        this.video = /** @type {HTMLVideoElement} */ (element('video'));
        this.video.muted = true;
        this.video.playsInline = true;
        this.video.disablePictureInPicture = true;
        this.video.setAttribute('aria-hidden', 'true');
        this.placeholder = element('span', 'tile-placeholder');
        this.state = element('span', 'tile-state');
        const dot = element('span', 'dot');
        dot.setAttribute('aria-hidden', 'true');
        this.stateWord = element('span');
        this.state.append(dot, this.stateWord);
        this.people = element('span', 'tile-people');
        this.peopleCount = element('span');
        this.people.append(icon('people'), this.peopleCount);
        this.checked = element('span', 'tile-checked');
        this.tag = element('span', 'tile-tag');
        this.mic = element('span', 'tile-mic');
        this.mic.append(icon('muted'));
        picture.append(this.video, this.placeholder, this.tag, this.mic, this.people, this.checked);
        // Below the picture: the name, the state, the link's quality.
        const caption = element('span', 'tile-caption');
        this.name = element('span', 'tile-name');
        this.quality = element('span', 'tile-quality');
        caption.append(this.name, this.state, this.quality);
        button.append(picture, caption);
        this.element.append(button);

        /** @type {ReconnectingSession|null} */
        this.player = null;
        /** @type {{bytes: number, packets: number, lost: number, at: number}|null} */
        this.sample = null;
        /** Whether the hall's picture arrives over this tile's connection. */
        this.picture = new PictureSampler();
        /** @type {LinkQuality} */
        this.link = {rttMs: null, loss: null, kbps: null, grade: 'none'};
        /** True once the hall's feed brought packets over this tile's connection. */
        this.received = false;
    }

    /** The hall's feed as this tile receives it, or null. */
    get stream() {
        return this.player && this.player.session ? this.player.session.stream : null;
    }

    /** True while frames arrive. */
    get hasPicture() {
        return this.picture.arriving();
    }

    /**
     * Starts playing the hall's feed.
     * @param {string} url
     * @param {string} token
     * @param {() => RTCIceServer[]} [iceServers] the TURN servers, read for every connection
     */
    startPlayer(url, token, iceServers) {
        if (this.player)
            return;
        const player = new ReconnectingSession(() => play(url, token, {
            audio: false, iceServers: iceServers ? iceServers() : [],
        }));
        player.addEventListener('session', () => {
            this.sample = null;
            this.picture.sample(0);
            this.received = false;
            this.video.srcObject = player.session ? player.session.stream : null;
            void this.video.play().catch(() => {});
        });
        player.addEventListener('statechange', () => {
            if (player.state !== 'connected' && player.state !== 'unstable')
                this.link = {rttMs: null, loss: null, kbps: null, grade: 'none'};
            this.render();
        });
        this.player = player;
        player.start();
    }

    stopPlayer() {
        if (!this.player)
            return;
        this.player.stop();
        this.player = null;
        this.video.srcObject = null;
        this.link = {rttMs: null, loss: null, kbps: null, grade: 'none'};
        this.picture.reset();
    }

    /** Measures the tile's connection: round-trip time, loss and bitrate since the last time. */
    async measure() {
        const stats = await statsOf(this.player ? this.player.session : null);
        if (!stats)
            return;
        let bytes = 0;
        let packets = 0;
        let lost = 0;
        let frames = 0;
        /** @type {number|null} */
        let rttMs = null;
        stats.forEach(report => {
            if (report.type === 'inbound-rtp' && report.kind === 'video') {
                bytes += report.bytesReceived || 0;
                packets += report.packetsReceived || 0;
                lost += Math.max(0, report.packetsLost || 0);
                frames += report.framesDecoded || 0;
            } else if (report.type === 'candidate-pair' && report.nominated
                && report.state === 'succeeded' && typeof report.currentRoundTripTime === 'number') {
                rttMs = Math.round(report.currentRoundTripTime * 1000);
            }
        });
        const now = Date.now();
        this.picture.sample(frames, now);
        const before = this.sample;
        this.sample = {bytes, packets, lost, at: now};
        this.received = packets > 0;
        /** @type {number|null} */
        let kbps = null;
        /** @type {number|null} */
        let loss = null;
        if (before && now > before.at) {
            kbps = Math.max(0, (8 * (bytes - before.bytes)) / (now - before.at));
            const expected = (packets - before.packets) + (lost - before.lost);
            loss = expected > 0 ? Math.max(0, lost - before.lost) / expected : null;
        }
        this.link = {rttMs, loss, kbps, grade: grade(rttMs, loss)};
        this.render();
    }

    /**
     * @param {TileInfo} info
     */
    update(info) {
        this.info = info;
        this.render();
    }

    /** Draws the tile from what is known. */
    render() {
        const info = this.info;
        const root = this.element;
        const picture = this.hasPicture && info.state !== 'removed';
        root.dataset.state = info.state;
        root.dataset.picture = String(picture);
        root.dataset.floor = String(info.floor);
        root.dataset.requested = String(info.request > 0);
        root.dataset.muted = String(info.muted);
        setText(this.name, info.name);
        this.name.title = info.kindText ? `${info.name} · ${info.kindText}` : info.name;
        setText(this.stateWord, stateText(info.state));
        this.state.dataset.state = info.state;

        const people = peopleWords(info);
        setText(this.peopleCount, `${people.headcount}/${people.expected}`);
        this.people.dataset.reported = String(typeof info.headcount === 'number');
        this.people.title = t('tile.people_long', people);
        const checked = info.checkedIn;
        this.checked.hidden = !checked;
        setText(this.checked,
            checked ? `✓ ${formatNumber(checked.present)}/${formatNumber(checked.expected)}` : '');
        this.checked.title = checked ? t('tile.checked_long', {
            present: formatNumber(checked.present),
            expected: formatNumber(checked.expected),
            excused: formatNumber(checked.excused),
        }) : '';

        // Words only where the state chip does not say it all: connected, and no picture.
        const placeholder = picture || info.state !== 'connected' ? '' : t('tile.no_picture');
        setText(this.placeholder, placeholder);
        this.placeholder.hidden = !placeholder;

        const tag = info.floor ? t('tile.on_air')
            : info.request ? t('tile.request', {n: info.request}) : '';
        setText(this.tag, tag);
        this.tag.hidden = !tag;
        this.tag.dataset.kind = info.floor ? 'floor' : 'request';
        this.mic.hidden = !info.muted;
        this.mic.title = t('tile.muted');

        const link = this.received ? this.link : {...this.link, grade: /** @type {'none'} */ ('none')};
        const quality = this.received ? qualityText(link) : t('tile.quality_none');
        setText(this.quality, quality);
        this.quality.dataset.grade = link.grade;
        this.quality.title = t('tile.quality_title');

        const words = [info.name, stateText(info.state), t('tile.people_long', people)];
        if (checked)
            words.push(this.checked.title);
        if (tag)
            words.push(tag);
        if (info.muted)
            words.push(t('tile.muted'));
        if (this.received)
            words.push(`${t('tile.quality_title')}: ${quality}`);
        this.button.setAttribute('aria-label', t('tile.open', {site: words.join(' · ')}));
    }
}

/**
 * @param {TileState} state
 * @returns {string}
 */
export function stateText(state) {
    switch (state) {
    case 'connected':
        return t('tile.connected');
    case 'reconnecting':
        return t('tile.reconnecting');
    case 'removed':
        return t('tile.removed');
    default:
        return t('tile.absent');
    }
}

/**
 * The headcount and the people expected, as numbers in words.
 * @param {TileInfo} info
 * @returns {{headcount: string, expected: string}}
 */
function peopleWords(info) {
    return {
        headcount: typeof info.headcount === 'number' ? formatNumber(info.headcount) : '—',
        expected: formatNumber(info.expected || 0),
    };
}

/**
 * "42 ms · 0,5% · 280 kbit/s", or a dash when the tile's connection is not measured.
 * @param {LinkQuality} link
 * @returns {string}
 */
export function qualityText(link) {
    if (link.rttMs === null && link.kbps === null)
        return t('tile.quality_none');
    return t('tile.quality', {
        rtt: link.rttMs === null ? '—' : formatNumber(link.rttMs),
        loss: link.loss === null ? '—' : formatNumber(link.loss * 100, link.loss > 0 && link.loss < 0.1 ? 1 : 0),
        kbps: link.kbps === null ? '—' : formatNumber(link.kbps),
    });
}

/** Every tile, in the order of the invitations. */
export class Mosaic {
    /**
     * @param {HTMLElement} list the <ul> the tiles go in
     * @param {{url: (site: string) => string, token: string, onOpen: (site: string) => void,
     *     iceServers?: () => RTCIceServer[]}} options iceServers: the TURN servers as /me gives
     *     them now, read for every connection
     */
    constructor(list, options) {
        this.list = list;
        this.options = options;
        /** @type {Map<string, Tile>} */
        this.tiles = new Map();
        /** When the next tile may make its first connection (ms). */
        this.nextStart = 0;
        /** @type {Set<ReturnType<typeof setTimeout>>} */
        this.pending = new Set();
        this.stopped = false;
        this.timer = setInterval(() => void this.measure(), STATS_INTERVAL);
    }

    /**
     * Shows these halls, in this order: tiles are made, kept or removed to match, and each
     * tile's player runs unless its hall was removed.
     * @param {TileInfo[]} infos
     */
    update(infos) {
        const seen = new Set();
        /** @type {HTMLElement[]} */
        const order = [];
        for (const info of infos) {
            seen.add(info.site);
            let tile = this.tiles.get(info.site);
            if (!tile) {
                tile = new Tile(info, this.options.onOpen);
                this.tiles.set(info.site, tile);
            }
            tile.update(info);
            order.push(tile.element);
            if (this.stopped || info.state === 'removed')
                tile.stopPlayer();
            else if (!tile.player)
                this.schedule(tile);
        }
        for (const [site, tile] of this.tiles) {
            if (!seen.has(site)) {
                tile.stopPlayer();
                tile.element.remove();
                this.tiles.delete(site);
            }
        }
        arrange(this.list, order); // the given order
        this.list.dataset.count = String(this.tiles.size);
    }

    /**
     * @param {string} site
     * @returns {Tile|undefined}
     */
    tile(site) {
        return this.tiles.get(site);
    }

    /** Redraws every tile (after a change of language). */
    render() {
        for (const tile of this.tiles.values())
            tile.render();
    }

    /** Stops every player for good (the session ended, the link became invalid). */
    stop() {
        this.stopped = true;
        for (const timer of this.pending)
            clearTimeout(timer);
        this.pending.clear();
        for (const tile of this.tiles.values())
            tile.stopPlayer();
    }

    /**
     * Starts a tile's player in its turn.
     * @param {Tile} tile
     */
    schedule(tile) {
        if (tile.player || tile.element.dataset.scheduled === 'true')
            return;
        const now = Date.now();
        const at = Math.max(now, this.nextStart);
        this.nextStart = at + START_SPACING;
        tile.element.dataset.scheduled = 'true';
        const timer = setTimeout(() => {
            this.pending.delete(timer);
            delete tile.element.dataset.scheduled;
            if (!this.stopped && tile.info.state !== 'removed' && this.tiles.get(tile.info.site) === tile)
                tile.startPlayer(this.options.url(tile.info.site), this.options.token, this.options.iceServers);
        }, at - now);
        this.pending.add(timer);
    }

    async measure() {
        await Promise.all([...this.tiles.values()].map(tile => tile.measure()));
        for (const tile of this.tiles.values()) {
            // A picture that stopped: say so without waiting for the next change.
            if (tile.element.dataset.picture !== String(tile.hasPicture && tile.info.state !== 'removed'))
                tile.render();
        }
    }
}
