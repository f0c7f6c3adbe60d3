// @ts-check
/**
 * The attendance page's people: per hall, each person of its roster with their status, and for
 * the district's clerk (the admin token) the corrections — mark an absence "có lý do" with its
 * reason or withdraw it, undo a mistaken check-in — each a new event of the record, with who
 * and why (docs/api.md, Check-in). attendance.js creates it and hands it each report.
 */

import {byId as $, element, setText} from './dom.js';
import {HttpError} from './httperror.js';
import {formatPercent, formatTime, onLanguageChange, t} from './i18n.js';
import {correct} from './checkinapi.js';
import {problemText, standingText} from './checkinpanel.js';

/** @typedef {import('./checkinapi.js').HallPerson & {site: string}} SessionPerson */
/** @typedef {import('./checkinapi.js').Api} Api */

/**
 * The people's rates of a site entry or of the totals (docs/api.md, attendance).
 * @typedef {{people_present_rate?: number|null, people_excused_rate?: number|null,
 *     people_unexcused_rate?: number|null}} PeopleRates
 */

/**
 * A site entry of the report, as far as this module reads it (`people` and the rates when the
 * server's report has the people's statuses).
 * @typedef {{site: string, name: string, people?: {id: string, status: string}[]} & PeopleRates} ReportSite
 */

/**
 * @typedef {{sites: ReportSite[], totals: PeopleRates & {people_expected?: number,
 *     people_present?: number, people_excused?: number, people_unexcused?: number}}} PeopleReport
 */

export class PeoplePanel {
    /**
     * @param {() => void} changed after a correction: the report is read again
     */
    constructor(changed) {
        this.changed = changed;
        /** @type {Api|null} */
        this.api = null;
        /** @type {SessionPerson[]} */
        this.people = [];
        /** @type {ReportSite[]} */
        this.sites = [];
        /** @type {PeopleReport['totals']|null} */
        this.totals = null;
        /** @type {{person: string, what: 'checkin/revoke'|'absence'|'absence/revoke'}|null} */
        this.asking = null;
        /** @type {{person: string, text: string}|null} */
        this.problem = null;
        this.root = $('people-panel');
        onLanguageChange(() => this.draw());
    }

    /**
     * Reads the people again, with the report just read.
     * @param {Api} api
     * @param {PeopleReport} report
     */
    async load(api, report) {
        this.api = api;
        this.sites = report.sites;
        this.totals = report.totals;
        try {
            /** @type {{people: SessionPerson[]}} */
            const answer = await api.request('GET', 'people');
            this.people = answer.people;
        } catch (e) {
            if (!(e instanceof HttpError))
                throw e;
            // The last list stands (the report says the server is away).
        }
        this.draw();
    }

    draw() {
        this.root.hidden = this.people.length === 0;
        setText($('people-heading'), t('people.heading'));
        const totals = this.totals;
        setText($('people-totals'), totals && typeof totals.people_expected === 'number'
            ? t('people.totals', {
                present: totals.people_present || 0, expected: totals.people_expected,
                excused: totals.people_excused || 0, unexcused: totals.people_unexcused || 0,
                ...rates(totals),
            }) : '');
        const statuses = new Map();
        for (const site of this.sites)
            for (const person of site.people || [])
                statuses.set(person.id, person.status);
        const blocks = this.sites.map(site => {
            const mine = this.people.filter(p => p.site === site.site);
            return mine.length ? this.siteBlock(site, mine, statuses) : null;
        }).filter(block => block !== null);
        $('people-sites').replaceChildren(...blocks);
    }

    /**
     * @param {ReportSite} site
     * @param {SessionPerson[]} people
     * @param {Map<string, string>} statuses the report's, by person
     * @returns {HTMLElement}
     */
    siteBlock(site, people, statuses) {
        const block = element('section', 'people-site');
        block.dataset.site = site.site;
        block.append(element('h3', '', site.people && site.people.length
            ? t('people.site_rates', {site: site.name, ...counts(site.people), ...rates(site)})
            : t('people.site_heading', {
                site: site.name,
                present: people.filter(p => p.checked_in && p.checked_in_site === site.site).length,
                expected: people.length,
                excused: people.filter(p => !p.checked_in && p.excused).length,
            })));
        const table = element('table', 'people-table');
        const body = element('tbody');
        body.append(...people.map(person => this.row(person, statuses.get(person.id))));
        table.append(body);
        block.append(table);
        return block;
    }

    /**
     * @param {SessionPerson} person
     * @param {string|undefined} status the report's, when it has one
     * @returns {HTMLElement}
     */
    row(person, status) {
        const row = element('tr');
        row.dataset.person = person.id;
        row.dataset.status = status || (person.checked_in ? 'present' : person.excused ? 'excused' : 'absent');
        const who = element('td');
        who.append(element('strong', '', person.name));
        if (person.position)
            who.append(element('br'), element('small', '', person.position));
        const detail = person.checked_in ? formatTime(person.checked_in_at) : person.reason || '';
        const state = element('td', '', status
            ? [t(`people.status_${status}`), detail].filter(Boolean).join(' · ') : standingText(person, person.site));
        const actions = element('td');
        /**
         * @param {string} key
         * @param {'checkin/revoke'|'absence'|'absence/revoke'} what
         */
        const action = (key, what) => {
            const button = /** @type {HTMLButtonElement} */ (element('button', 'button small', t(key)));
            button.type = 'button';
            button.dataset.action = what;
            button.addEventListener('click', () => {
                this.asking = {person: person.id, what};
                this.problem = null;
                this.draw();
                const input = this.root.querySelector('.people-reason input');
                if (input instanceof HTMLInputElement)
                    input.focus();
            });
            actions.append(button);
        };
        if (person.checked_in)
            action('people.revoke', 'checkin/revoke');
        else if (person.excused)
            action('people.unmark_absent', 'absence/revoke');
        else
            action('people.mark_absent', 'absence');
        if (this.asking && this.asking.person === person.id)
            actions.append(this.reasonForm(this.asking.what));
        if (this.problem && this.problem.person === person.id)
            actions.append(element('p', 'checkin-problem', this.problem.text));
        row.append(who, state, actions);
        return row;
    }

    /**
     * @param {'checkin/revoke'|'absence'|'absence/revoke'} what
     * @returns {HTMLElement}
     */
    reasonForm(what) {
        const form = /** @type {HTMLFormElement} */ (element('form', 'people-reason'));
        const input = /** @type {HTMLInputElement} */ (element('input'));
        input.required = true;
        input.maxLength = 500;
        input.setAttribute('aria-label', t('people.reason_prompt'));
        input.placeholder = t('people.reason_prompt');
        const submit = /** @type {HTMLButtonElement} */ (element('button', 'button primary small', t('people.reason_submit')));
        submit.type = 'submit';
        const cancel = /** @type {HTMLButtonElement} */ (element('button', 'button small', t('people.reason_cancel')));
        cancel.type = 'button';
        cancel.addEventListener('click', () => {
            this.asking = null;
            this.draw();
        });
        form.addEventListener('submit', event => {
            event.preventDefault();
            void this.send(what, input.value.trim());
        });
        form.dataset.action = what;
        form.append(input, submit, cancel);
        return form;
    }

    /**
     * @param {'checkin/revoke'|'absence'|'absence/revoke'} what
     * @param {string} reason
     */
    async send(what, reason) {
        const asking = this.asking;
        if (!asking || !this.api || !reason)
            return;
        try {
            await correct(this.api, asking.person, what, reason);
        } catch (e) {
            const text = e instanceof HttpError && e.status === 403 ? t('people.admin_only') : problemText(e);
            this.problem = {person: asking.person, text};
            this.draw();
            return;
        }
        this.asking = null;
        this.problem = null;
        this.changed();
    }
}

/**
 * The report's three rates, as the page writes them.
 * @param {PeopleRates} of
 * @returns {{present_rate: string, excused_rate: string, unexcused_rate: string}}
 */
function rates(of) {
    return {
        present_rate: formatPercent(of.people_present_rate),
        excused_rate: formatPercent(of.people_excused_rate),
        unexcused_rate: formatPercent(of.people_unexcused_rate),
    };
}

/**
 * A site's people by the report's statuses (present counts the late too).
 * @param {{status: string}[]} people
 * @returns {{present: number, expected: number, excused: number, unexcused: number}}
 */
function counts(people) {
    const present = people.filter(p => p.status === 'present' || p.status === 'late').length;
    const excused = people.filter(p => p.status === 'excused').length;
    return {present, expected: people.length, excused, unexcused: people.length - present - excused};
}
