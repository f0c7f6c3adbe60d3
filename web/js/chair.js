// @ts-check
/**
 * The chair's controls on the console: the floor (who speaks, their picture and sound through
 * the district hall's loudspeakers, take back, mute), the queue of requests, one hall enlarged
 * in the spotlight with its buttons, and the confirmation before a hall is removed. The chair
 * speaks over the meeting's control channel; what the room becomes comes back on it.
 */

import {byId as $, setText} from './dom.js';
import {formatNumber, t} from './i18n.js';
import {arrange, qualityText, stateText as tileStateText} from './mosaic.js';
import {PictureSampler} from './picture.js';
import {ReconnectingSession} from './reconnecting.js';
import {play, receivedBy} from './whip.js';

/** @typedef {import('./whip.js').ReceivedCounts} ReceivedCounts */

/** How long a refusal of the chair's action stays on screen, in ms. */
const PROBLEM_SHOWN = 8000;

/**
 * What the chair needs of its page.
 * @typedef {Object} ChairPage
 * @property {(site: string) => string} siteName the hall's name, or its id until the sites list came
 */

/**
 * The meeting the chair runs: its control channel, its mosaic, where the floor is played from.
 * @typedef {Object} Meeting
 * @property {import('./control.js').ControlChannel} channel
 * @property {import('./mosaic.js').Mosaic} mosaic
 * @property {string} floorUrl the WHEP endpoint of the floor as the district hall receives it
 * @property {string} token
 * @property {() => RTCIceServer[]} iceServers read for every connection
 */

export class Chair {
    /** @param {ChairPage} page */
    constructor(page) {
        /** @private */
        this.page = page;
        /** @type {import('./control.js').ControlChannel|null} */
        this.channel = null;
        /** @private @type {import('./mosaic.js').Mosaic|null} */
        this.mosaic = null;
        /** @type {ReconnectingSession|null} the floor as the district hall receives it */
        this.floorPlayer = null;
        /** @private whether the floor's picture arrives */
        this.floorPicture = new PictureSampler();
        /** @private true when the browser would not play the floor's sound before a click */
        this.soundBlocked = false;
        /** @private @type {string|null} the hall shown enlarged */
        this.spotlightSite = null;
        /** @private @type {string|null} the hall the chair is asked to confirm removing */
        this.removing = null;
        /**
         * @private the chair's last refused action, in words, and until when it shows (ms)
         * @type {{key: string, vars?: Record<string, string|number>, until: number}|null}
         */
        this.problem = null;
        /** @private */
        this.floorVideo = /** @type {HTMLVideoElement} */ ($('floor-video'));
        /** @private */
        this.spotlight = /** @type {HTMLDialogElement} */ ($('spotlight'));
        /** @private */
        this.spotlightVideo = /** @type {HTMLVideoElement} */ ($('spotlight-video'));
        /** @private */
        this.removeDialog = /** @type {HTMLDialogElement} */ ($('confirm-remove'));
        this.bind();
    }

    /**
     * The meeting opened: chair it, and play its floor.
     * @param {Meeting} meeting
     */
    start({channel, mosaic, floorUrl, token, iceServers}) {
        this.channel = channel;
        this.mosaic = mosaic;
        const player = new ReconnectingSession(() => play(floorUrl, token, {iceServers: iceServers()}));
        player.addEventListener('session', () => {
            this.floorPicture.reset();
            this.floorVideo.srcObject = player.session ? player.session.stream : null;
            void this.playFloor();
        });
        player.addEventListener('statechange', () => this.render());
        this.floorPlayer = player;
        player.start();
    }

    /** The meeting closed (ended, the link is invalid, the page goes away). */
    stop() {
        void this.floorPlayer?.stop();
        this.floorPlayer = null;
        this.floorVideo.srcObject = null;
        this.closeSpotlight();
    }

    /**
     * The server refused one of the chair's messages.
     * @param {{code: string, message?: string}} error
     */
    refused(error) {
        this.problem = {
            key: problemKey(error.code),
            vars: {message: error.message || error.code || ''},
            until: Date.now() + PROBLEM_SHOWN,
        };
        setTimeout(() => this.render(), PROBLEM_SHOWN + 50);
    }

    /**
     * Shows one hall enlarged, with the chair's buttons for it.
     * @param {string} site
     */
    openSpotlight(site) {
        this.spotlightSite = site;
        if (!this.spotlight.open)
            this.spotlight.show();
        this.renderSpotlight();
        $('spotlight-close').focus();
    }

    /** Every second: whether the floor brings a picture. */
    async sample() {
        const session = this.floorPlayer ? this.floorPlayer.session : null;
        if (!session || session.state !== 'connected')
            return;
        try {
            const counts = await receivedBy(session.pc.getReceivers());
            this.floorPicture.sample(counts.video.frames);
        } catch {
            // Closed meanwhile.
        }
        this.render();
    }

    /**
     * The floor's inbound bytes and packets by kind, as the district hall receives them; null
     * while there is no floor connection. For people checking the sound, and for the tests.
     * @returns {Promise<{video: ReceivedCounts, audio: ReceivedCounts}|null>}
     */
    async floorStats() {
        const session = this.floorPlayer ? this.floorPlayer.session : null;
        return session ? receivedBy(session.pc.getReceivers()) : null;
    }

    /** The channel's line, the floor panel, the requests, the spotlight. */
    render() {
        this.renderChannel();
        this.renderFloor();
        this.renderRequests();
        this.renderSpotlight();
    }

    /**
     * Sends one of the chair's messages, or says why it can't.
     * @private
     * @param {Record<string, unknown> & {type: string}} message
     */
    send(message) {
        if (!this.channel || !this.channel.send(message)) {
            this.problem = {key: 'chair.offline', until: Date.now() + PROBLEM_SHOWN};
            setTimeout(() => this.render(), PROBLEM_SHOWN + 50);
        } else {
            this.problem = null;
        }
        this.render();
    }

    /** True while the chair's messages can go out. */
    get isOpen() {
        return this.channel !== null && this.channel.isOpen;
    }

    /** @private Plays the floor with its sound, or muted until a click if the browser insists. */
    async playFloor() {
        const video = this.floorVideo;
        video.muted = false;
        try {
            await video.play();
            this.soundBlocked = false;
        } catch (e) {
            if (e instanceof DOMException && e.name === 'NotAllowedError') {
                this.soundBlocked = true;
                video.muted = true;
                void video.play().catch(() => {});
            }
        }
        this.render();
    }

    /** @private */
    renderChannel() {
        const channel = this.channel;
        const line = $('channel');
        const state = channel ? channel.state : 'closed';
        line.dataset.state = state;
        /** @type {string} */
        let text;
        switch (state) {
        case 'open':
            text = t('channel.open');
            break;
        case 'waiting':
            text = t('channel.waiting', {
                seconds: Math.max(1, Math.ceil(((channel ? channel.retryAt : 0) - Date.now()) / 1000)),
            });
            break;
        case 'connecting':
            text = t('channel.connecting');
            break;
        default:
            text = t('channel.closed');
        }
        setText(line, text);
    }

    /** @private */
    renderFloor() {
        const room = this.channel ? this.channel.room : null;
        const holder = room ? room.floor : null;
        const open = this.isOpen;
        const picture = holder !== null && this.floorPicture.arriving();
        const now = $('floor-now');
        now.dataset.holder = String(holder !== null);
        now.dataset.picture = String(picture);
        setText($('floor-holder'), holder
            ? t('floor.holder', {site: this.page.siteName(holder)})
            : t('floor.nobody'));
        const empty = $('floor-empty');
        setText(empty, picture ? '' : holder ? t('floor.waiting_picture') : t('floor.nobody_detail'));
        empty.hidden = picture;
        $('floor-tag').hidden = holder === null;
        const takeBack = /** @type {HTMLButtonElement} */ ($('take-back'));
        takeBack.hidden = holder === null;
        takeBack.disabled = !open;
        const mute = /** @type {HTMLButtonElement} */ ($('floor-mute'));
        const muted = holder !== null && room !== null && room.muted.has(holder);
        mute.hidden = holder === null;
        mute.disabled = !open;
        mute.dataset.muted = String(muted);
        setText(mute, muted ? t('chair.unmute') : t('chair.mute'));
        $('floor-sound').hidden = !this.soundBlocked;

        const problem = $('floor-error');
        const shown = this.problem && this.problem.until > Date.now() ? this.problem : null;
        setText(problem, shown ? t(shown.key, shown.vars) : '');
        problem.hidden = !shown;
    }

    /** @private */
    renderRequests() {
        const room = this.channel ? this.channel.room : null;
        const requests = room ? room.requests : [];
        const open = this.isOpen;
        const list = $('requests');
        /** @type {Map<string, HTMLElement>} */
        const rows = new Map();
        for (const row of /** @type {HTMLElement[]} */ ([...list.children]))
            rows.set(row.dataset.site || '', row);
        /** @type {HTMLElement[]} */
        const order = [];
        requests.forEach((site, index) => {
            const row = rows.get(site) || this.requestRow(site);
            rows.delete(site);
            order.push(row);
            const [place, name, grant] = /** @type {HTMLElement[]} */ ([...row.children]);
            const siteName = this.page.siteName(site);
            setText(place, formatNumber(index + 1));
            setText(name, siteName);
            setText(grant, t('chair.grant'));
            /** @type {HTMLButtonElement} */ (grant).disabled = !open;
            grant.setAttribute('aria-label', t('chair.grant_site', {site: siteName}));
        });
        for (const row of rows.values())
            row.remove();
        arrange(list, order); // in the order of the queue
        setText($('requests-count'), requests.length ? `(${formatNumber(requests.length)})` : '');
        $('requests-empty').hidden = requests.length > 0;
    }

    /**
     * A row of the queue: its place, the hall (opens its tile), and the grant button.
     * @private
     * @param {string} site
     * @returns {HTMLElement}
     */
    requestRow(site) {
        const row = document.createElement('li');
        row.dataset.site = site;
        const place = document.createElement('span');
        place.className = 'request-place';
        const name = document.createElement('button');
        name.type = 'button';
        name.className = 'request-name';
        name.addEventListener('click', () => this.openSpotlight(site));
        const grant = document.createElement('button');
        grant.type = 'button';
        grant.className = 'button primary request-grant';
        grant.addEventListener('click', () => this.send({type: 'grant', site}));
        row.append(place, name, grant);
        return row;
    }

    /** @private */
    closeSpotlight() {
        this.spotlightSite = null;
        this.spotlightVideo.srcObject = null;
        if (this.spotlight.open)
            this.spotlight.close();
    }

    /** @private */
    renderSpotlight() {
        const site = this.spotlightSite;
        const tile = site && this.mosaic ? this.mosaic.tile(site) : undefined;
        if (!site || !tile) {
            if (this.spotlight.open)
                this.closeSpotlight();
            return;
        }
        const info = tile.info;
        const open = this.isOpen;
        setText($('spotlight-name'), info.kindText ? `${info.name} · ${info.kindText}` : info.name);
        const state = $('spotlight-state');
        state.dataset.state = info.state;
        setText(state, tileStateText(info.state));
        const video = this.spotlightVideo;
        if (video.srcObject !== tile.stream) {
            video.srcObject = tile.stream;
            if (tile.stream)
                void video.play().catch(() => {});
        }
        const picture = tile.hasPicture && info.state !== 'removed';
        const empty = $('spotlight-empty');
        setText(empty, picture ? '' : info.state === 'connected' ? t('tile.no_picture')
            : tileStateText(info.state));
        empty.hidden = picture;
        const details = [
            t('tile.people_long', {
                headcount: typeof info.headcount === 'number' ? formatNumber(info.headcount) : '—',
                expected: formatNumber(info.expected),
            }),
            t('tile.quality_long', {quality: qualityText(tile.link)}),
        ];
        if (info.request)
            details.push(t('tile.request', {n: info.request}));
        setText($('spotlight-details'), details.join(' · '));
        const grant = /** @type {HTMLButtonElement} */ ($('spotlight-grant'));
        grant.dataset.action = info.floor ? 'take_back' : 'grant';
        setText(grant, info.floor ? t('floor.take_back') : t('chair.grant'));
        grant.disabled = !open || info.state === 'removed';
        const mute = /** @type {HTMLButtonElement} */ ($('spotlight-mute'));
        setText(mute, info.muted ? t('chair.unmute') : t('chair.mute'));
        mute.dataset.muted = String(info.muted);
        mute.disabled = !open || info.state === 'removed';
        /** @type {HTMLButtonElement} */ ($('spotlight-remove')).disabled = !open || info.state === 'removed';
    }

    /**
     * Asks the chair to confirm removing a hall.
     * @private
     * @param {string} site
     */
    askRemove(site) {
        this.removing = site;
        const title = t('remove.title', {site: this.page.siteName(site)});
        setText($('remove-title'), title);
        if (typeof this.removeDialog.showModal === 'function')
            this.removeDialog.showModal();
        else if (window.confirm(`${title}\n${t('remove.text')}`))
            this.confirmRemove();
    }

    /** @private */
    confirmRemove() {
        const site = this.removing;
        this.removing = null;
        if (this.removeDialog.open)
            this.removeDialog.close();
        if (site) {
            this.send({type: 'remove', site});
            if (this.spotlightSite === site)
                this.closeSpotlight();
        }
    }

    /** @private */
    bind() {
        $('take-back').addEventListener('click', () => this.send({type: 'take_back'}));
        $('floor-mute').addEventListener('click', () => {
            const holder = this.channel ? this.channel.room.floor : null;
            if (holder)
                this.send({type: 'mute', site: holder, muted: $('floor-mute').dataset.muted !== 'true'});
        });
        $('floor-sound').addEventListener('click', () => void this.playFloor());
        $('spotlight-close').addEventListener('click', () => this.closeSpotlight());
        $('spotlight-grant').addEventListener('click', () => {
            if (!this.spotlightSite)
                return;
            if ($('spotlight-grant').dataset.action === 'take_back')
                this.send({type: 'take_back'});
            else
                this.send({type: 'grant', site: this.spotlightSite});
        });
        $('spotlight-mute').addEventListener('click', () => {
            const muted = $('spotlight-mute').dataset.muted !== 'true';
            if (this.spotlightSite)
                this.send({type: 'mute', site: this.spotlightSite, muted});
        });
        $('spotlight-remove').addEventListener('click', () => {
            if (this.spotlightSite)
                this.askRemove(this.spotlightSite);
        });
        $('remove-cancel').addEventListener('click', () => {
            this.removing = null;
            this.removeDialog.close();
        });
        $('remove-ok').addEventListener('click', () => this.confirmRemove());
        const confirmEnd = /** @type {HTMLDialogElement} */ ($('confirm-end'));
        document.addEventListener('keydown', event => {
            if (event.key === 'Escape' && this.spotlight.open && !this.removeDialog.open && !confirmEnd.open)
                this.closeSpotlight();
        });
        // A click anywhere lets the browser play the floor's sound.
        document.addEventListener('pointerdown', () => {
            if (this.soundBlocked)
                void this.playFloor();
        }, {passive: true});
        setInterval(() => this.renderChannel(), 1000);
    }
}

/**
 * @param {string} code
 * @returns {string}
 */
function problemKey(code) {
    switch (code) {
    case 'not_present':
        return 'chair.error_not_present';
    case 'has_floor':
        return 'chair.error_has_floor';
    case 'no_floor':
        return 'chair.error_no_floor';
    case 'removed':
        return 'chair.error_removed';
    case 'rate_limited':
        return 'chair.error_rate';
    default:
        return 'chair.error';
    }
}
