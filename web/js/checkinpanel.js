// @ts-check
/**
 * The join page's check-in: beside the program, a QR code that changes every 30 s (a phone
 * that scans it checks its person in, checkin.js), how many of the hall's people have checked
 * in, and the clerk's list to tick names in a hall without phones, correct a mistaken
 * check-in or mark an absence with its reason. Shown while the server takes check-ins: from
 * its --checkin-opens-before (an hour) before the scheduled start, since people come before
 * the operator goes live, and while live; for a hall with a roster. join.js creates it and
 * tells it the page's phase.
 */

import {element, setText} from './dom.js';
import {HttpError} from './httperror.js';
import {formatTime, onLanguageChange, t} from './i18n.js';
import {correct, findPeople, hallCode, hallPeople, tick} from './checkinapi.js';

/** The QR code is drawn again at the server's next slot, within these bounds (a wrong clock). */
const REFRESH_MIN = 5000;
const REFRESH_MAX = 30000;
/** Before check-in opens, the code is asked for again at its opening, within these bounds. */
const OPENING_MIN = 5000;
const OPENING_MAX = 60000;
/** How often the count and the clerk's list are read again, in ms. */
const PEOPLE_INTERVAL = 15000;

/** @typedef {import('./checkinapi.js').HallPerson} HallPerson */
/** @typedef {import('./checkinapi.js').Api} Api */

export class CheckinPanel {
    /**
     * @param {Api} api the hall's session API (its site token)
     * @param {string} site
     * @param {() => EventTarget|null} channel the page's control channel, once it has one: its
     *     `people` messages say when to read the list again
     */
    constructor(api, site, channel) {
        this.api = api;
        this.site = site;
        this.channel = channel;
        /** @type {EventTarget|null} the channel listened to */
        this.heard = null;
        /** @type {ReturnType<typeof setTimeout>|null} */
        this.rereadTimer = null;
        /** False once the server said this hall has no check-in (no roster, removed). */
        this.available = true;
        /** Scheduled or live: the server may take check-ins (it says when it does not yet). */
        this.active = false;
        /** @type {HallPerson[]} */
        this.people = [];
        /** @type {{person: HallPerson, what: 'checkin/revoke'|'absence'}|null} */
        this.asking = null;
        /** @type {ReturnType<typeof setTimeout>|null} */
        this.codeTimer = null;
        /** @type {ReturnType<typeof setInterval>|null} */
        this.peopleTimer = null;
        this.root = element('aside', 'checkin-panel');
        this.root.id = 'checkin';
        this.root.hidden = true;
        this.heading = element('h2', 'checkin-heading');
        this.qr = /** @type {HTMLImageElement} */ (element('img', 'checkin-qr'));
        this.qr.id = 'checkin-qr';
        this.qr.width = this.qr.height = 200;
        this.hint = element('p', 'checkin-hint');
        this.count = element('p', 'checkin-count');
        this.count.id = 'checkin-count';
        this.open = element('button', 'button ghost checkin-open');
        this.open.id = 'checkin-open';
        /** @type {HTMLButtonElement} */ (this.open).type = 'button';
        this.open.addEventListener('click', () => this.openList());
        this.root.append(this.heading, this.qr, this.hint, this.count, this.open);

        this.dialog = /** @type {HTMLDialogElement} */ (element('dialog', 'dialog checkin-dialog'));
        this.dialog.id = 'checkin-dialog';
        this.title = element('h2');
        this.search = /** @type {HTMLInputElement} */ (element('input', 'checkin-search'));
        this.search.id = 'checkin-search';
        this.search.type = 'search';
        this.search.autocomplete = 'off';
        this.search.addEventListener('input', () => this.drawList());
        this.list = element('ul', 'checkin-list');
        this.list.id = 'checkin-list';
        this.form = /** @type {HTMLFormElement} */ (element('form', 'checkin-reason'));
        this.form.id = 'checkin-reason';
        this.form.hidden = true;
        this.reasonLabel = element('label');
        this.reasonLabel.setAttribute('for', 'checkin-reason-input');
        this.reason = /** @type {HTMLInputElement} */ (element('input'));
        this.reason.id = 'checkin-reason-input';
        this.reason.required = true;
        this.reason.maxLength = 500;
        this.reasonSubmit = element('button', 'button primary');
        /** @type {HTMLButtonElement} */ (this.reasonSubmit).type = 'submit';
        this.reasonCancel = element('button', 'button');
        /** @type {HTMLButtonElement} */ (this.reasonCancel).type = 'button';
        this.reasonCancel.addEventListener('click', () => this.ask(null));
        this.form.append(this.reasonLabel, this.reason, this.reasonSubmit, this.reasonCancel);
        this.form.addEventListener('submit', event => {
            event.preventDefault();
            void this.sendReason();
        });
        this.problem = element('p', 'checkin-problem');
        this.problem.id = 'checkin-problem';
        this.problem.setAttribute('role', 'alert');
        this.close = element('button', 'button');
        /** @type {HTMLButtonElement} */ (this.close).type = 'button';
        this.close.addEventListener('click', () => this.dialog.close());
        this.dialog.addEventListener('close', () => this.ask(null));
        this.dialog.append(this.title, this.search, this.form, this.problem, this.list, this.close);
        document.body.append(this.root, this.dialog);
        this.draw();
        onLanguageChange(() => this.draw());
    }

    /**
     * The page's phase changed (or not: cheap when it did not).
     * @param {string} phase
     */
    render(phase) {
        const channel = this.channel();
        if (channel && channel !== this.heard) {
            this.heard = channel;
            channel.addEventListener('people', event => {
                const detail = /** @type {CustomEvent<{site?: string}>} */ (event).detail;
                if (detail && detail.site === this.site && !this.rereadTimer)
                    // Phones check in by the dozen: one read for a burst of them.
                    this.rereadTimer = setTimeout(() => {
                        this.rereadTimer = null;
                        void this.refreshPeople();
                    }, 500);
            });
        }
        const active = phase === 'live' || phase === 'scheduled';
        if (active === this.active)
            return;
        this.active = active;
        if (active) {
            void this.refreshCode();
        } else {
            this.stop();
        }
        this.draw();
    }

    stop() {
        if (this.codeTimer)
            clearTimeout(this.codeTimer);
        if (this.peopleTimer)
            clearInterval(this.peopleTimer);
        this.codeTimer = this.peopleTimer = null;
        this.root.hidden = true;
        delete document.body.dataset.checkin;
        if (this.dialog.open)
            this.dialog.close();
    }

    async refreshCode() {
        if (this.codeTimer)
            clearTimeout(this.codeTimer);
        this.codeTimer = null;
        if (!this.active || !this.available)
            return;
        let delay = REFRESH_MIN;
        try {
            const code = await hallCode(this.api, this.site);
            this.qr.src = code.qr;
            this.qr.dataset.url = code.url;
            this.root.hidden = false;
            document.body.dataset.checkin = 'true'; // the program makes room beside it
            delay = Date.parse(code.refresh_at) - Date.now() + 300;
            if (!this.peopleTimer) { // the count and the list, once check-in is open
                void this.refreshPeople();
                this.peopleTimer = setInterval(() => void this.refreshPeople(), PEOPLE_INTERVAL);
            }
        } catch (e) {
            if (e instanceof HttpError && (e.error === 'no_roster' || e.error === 'removed'
                || e.invalidLink)) {
                this.available = false;
                this.stop();
                return;
            }
            if (e instanceof HttpError && e.error === 'not_started') {
                // Not open yet: ask again when it opens (the page's clock may be off a little).
                const opens = Date.parse(String(e.details.opens_at)) - Date.now() + 300;
                delay = Math.min(OPENING_MAX, Math.max(OPENING_MIN, opens || 0));
                if (this.active)
                    this.codeTimer = setTimeout(() => void this.refreshCode(), delay);
                return;
            }
            // Ended after all, or the server is away: the page's poll says which; try again.
        }
        if (this.active)
            this.codeTimer = setTimeout(() => void this.refreshCode(),
                Math.min(REFRESH_MAX, Math.max(REFRESH_MIN, delay)));
    }

    async refreshPeople() {
        if (!this.available)
            return;
        try {
            this.people = (await hallPeople(this.api, this.site)).people;
        } catch {
            return; // the last list stands until the server answers again
        }
        this.draw();
    }

    openList() {
        this.search.value = '';
        this.ask(null);
        setText(this.problem, '');
        this.drawList();
        this.dialog.showModal();
        this.search.focus();
        void this.refreshPeople();
    }

    /**
     * Asks for the reason of a correction of `person`, or stops asking (null).
     * @param {{person: HallPerson, what: 'checkin/revoke'|'absence'}|null} asking
     */
    ask(asking) {
        this.asking = asking;
        this.form.hidden = asking === null;
        this.reason.value = '';
        this.draw();
        if (asking)
            this.reason.focus();
    }

    /** @param {HallPerson} person */
    async tickPerson(person) {
        await this.send(() => tick(this.api, this.site, person.id));
    }

    async sendReason() {
        const asking = this.asking;
        const reason = this.reason.value.trim();
        if (!asking || !reason)
            return;
        if (await this.send(() => correct(this.api, asking.person.id, asking.what, reason)))
            this.ask(null);
    }

    /**
     * @param {() => Promise<unknown>} call
     * @returns {Promise<boolean>} whether it was done
     */
    async send(call) {
        setText(this.problem, '');
        try {
            await call();
        } catch (e) {
            setText(this.problem, problemText(e));
            await this.refreshPeople();
            return false;
        }
        await this.refreshPeople();
        return true;
    }

    draw() {
        setText(this.heading, t('checkin.heading'));
        setText(this.hint, t('checkin.scan_hint'));
        this.qr.alt = t('checkin.qr_alt');
        const done = this.people.filter(p => p.checked_in && p.checked_in_site === this.site);
        setText(this.count, this.people.length
            ? t('checkin.count', {n: done.length, total: this.people.length}) : '');
        setText(this.open, t('checkin.clerk_open'));
        setText(this.title, t('checkin.clerk_title'));
        this.search.placeholder = t('checkin.search');
        this.search.setAttribute('aria-label', t('checkin.search'));
        setText(this.close, t('checkin.close'));
        setText(this.reasonSubmit, t('checkin.reason_submit'));
        setText(this.reasonCancel, t('checkin.reason_cancel'));
        if (this.asking)
            setText(this.reasonLabel, t(this.asking.what === 'absence'
                ? 'checkin.reason_absence' : 'checkin.reason_revoke', {name: this.asking.person.name}));
        if (this.dialog.open)
            this.drawList();
    }

    drawList() {
        const shown = findPeople(this.people, this.search.value);
        this.list.replaceChildren(...shown.map(person => this.row(person)));
        if (!shown.length)
            this.list.append(element('li', 'checkin-none', t('checkin.none_found')));
    }

    /**
     * @param {HallPerson} person
     * @returns {HTMLElement}
     */
    row(person) {
        const item = element('li', 'checkin-person');
        item.dataset.person = person.id;
        const who = element('span', 'checkin-who');
        who.append(element('strong', '', person.name));
        if (person.position || person.unit)
            who.append(element('small', '', [person.position, person.unit].filter(Boolean).join(' · ')));
        const state = element('span', 'checkin-state', standingText(person, this.site));
        item.dataset.state = person.checked_in ? 'in' : person.excused ? 'excused' : 'out';
        /** @type {HTMLElement[]} */
        const actions = [];
        /**
         * @param {string} key
         * @param {() => void} act
         * @param {string} [name]
         */
        const action = (key, act, name) => {
            const button = element('button', 'button small', t(key));
            /** @type {HTMLButtonElement} */ (button).type = 'button';
            button.dataset.action = name || key;
            button.addEventListener('click', act);
            actions.push(button);
        };
        if (!person.checked_in) {
            action('checkin.tick', () => void this.tickPerson(person), 'tick');
            action('checkin.absent', () => this.ask({person, what: 'absence'}), 'absence');
        } else if (person.checked_in_site === this.site) {
            action('checkin.revoke', () => this.ask({person, what: 'checkin/revoke'}), 'revoke');
        }
        item.append(who, state, ...actions);
        return item;
    }
}

/**
 * @param {HallPerson} person
 * @param {string} site the hall whose list this is
 * @returns {string}
 */
export function standingText(person, site) {
    if (person.checked_in) {
        const vars = {time: formatTime(person.checked_in_at), site: person.checked_in_site_name || ''};
        if (person.checked_in_site !== site)
            return t('checkin.state_elsewhere', vars);
        return t(person.method === 'clerk' ? 'checkin.state_clerk' : 'checkin.state_qr', vars);
    }
    if (person.excused)
        return t('checkin.state_excused', {reason: person.reason || ''});
    return t('checkin.state_absent');
}

/**
 * What went wrong with a check-in or correction, in the page's words.
 * @param {unknown} e
 * @returns {string}
 */
export function problemText(e) {
    if (!(e instanceof HttpError))
        return t('checkin.error_other');
    const site = typeof e.details.site_name === 'string' ? e.details.site_name : '';
    const at = typeof e.details.checked_in_at === 'string' ? formatTime(e.details.checked_in_at) : '';
    const key = `checkin.error_${e.error}`;
    const known = ['already_checked_in', 'not_checked_in', 'checked_in', 'not_excused', 'code_expired',
        'not_found', 'unknown_person', 'session_ended', 'not_started', 'rate_limited'];
    if (known.includes(e.error))
        return t(key, {site, time: at});
    return e.retryable ? t('checkin.error_network') : t('checkin.error_other');
}
