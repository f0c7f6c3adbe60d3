// @ts-check
/**
 * The office's sessions page (/office/sessions): schedule a session (title, start and end on
 * the district's clock, which sites; or a template from the last session), and the upcoming
 * and past sessions, each started, ended or cancelled here, with the way to its links, its
 * console, its attendance record and its recordings (officerecordings.js). The admin token and
 * the shell: office.js.
 */

import {byId as $, element, setText} from './dom.js';
import {HttpError} from './httperror.js';
import {formatClock, formatDateTime, formatNumber, t} from './i18n.js';
import {OfficePage} from './office.js';
import {RecordingLists} from './officerecordings.js';
import {DEFAULT_ZONE, fromWallInput, wallInput} from './zone.js';

/**
 * @typedef {import('./api.js').Site} Site
 * @typedef {import('./api.js').Session} Session
 */

const DAY = 86_400_000;

/** @type {Site[]} */
let sites = [];
/** @type {Session[]} the most recently created first */
let sessions = [];
/** The sites ticked for the next session; all of them until the clerk chooses. */
/** @type {Set<string>|null} */
let chosen = null;
/** @type {string} why the schedule form was not sent, or what the server refused */
let scheduleError = '';
/** @type {Session|null} the session just scheduled */
let scheduled = null;

const office = new OfficePage(async api => {
    [sites, sessions] = await Promise.all([api.sites(), api.sessions()]);
}, renderView);
const recordings = new RecordingLists(office);

function bindControls() {
    $('schedule-form').addEventListener('submit', async event => {
        event.preventDefault();
        await schedule();
    });
    $('schedule-template').addEventListener('click', () => fromLastSession());
    $('sites-all').addEventListener('click', () => {
        chosen = new Set(sites.map(site => site.id));
        office.render();
    });
    $('sites-none').addEventListener('click', () => {
        chosen = new Set();
        office.render();
    });
    $('site-choices').addEventListener('change', event => {
        const box = /** @type {HTMLInputElement} */ (event.target);
        const ticked = chosenSites();
        if (box.checked)
            ticked.add(box.value);
        else
            ticked.delete(box.value);
        chosen = ticked;
        renderChosen();
    });
}

/** @returns {Set<string>} */
function chosenSites() {
    return chosen ?? new Set(sites.map(site => site.id));
}

/** Sends the schedule form, once it reads as a session. */
async function schedule() {
    if (!office.api)
        return;
    const title = /** @type {HTMLInputElement} */ ($('schedule-title')).value.trim();
    const kind = /** @type {HTMLSelectElement} */ ($('schedule-kind')).value === 'key' ? 'key' : 'grassroots';
    const start = fromWallInput(/** @type {HTMLInputElement} */ ($('schedule-start')).value, DEFAULT_ZONE);
    const end = fromWallInput(/** @type {HTMLInputElement} */ ($('schedule-end')).value, DEFAULT_ZONE);
    const ticked = [...chosenSites()].filter(id => sites.some(site => site.id === id));
    scheduled = null;
    if (!title)
        scheduleError = t('office.need_title');
    else if (start === null || end === null)
        scheduleError = t('office.need_times');
    else if (end <= start)
        scheduleError = t('office.end_before_start');
    else if (ticked.length === 0)
        scheduleError = t('office.need_sites');
    else
        scheduleError = '';
    if (scheduleError || start === null || end === null) {
        office.render();
        return;
    }
    try {
        scheduled = await office.api.createSession({
            title,
            scheduled_start: new Date(start).toISOString(),
            scheduled_end: new Date(end).toISOString(),
            sites: ticked,
            kind,
        });
        /** @type {HTMLFormElement} */ ($('schedule-form')).reset();
        chosen = null;
        await office.refresh();
    } catch (e) {
        if (e instanceof HttpError && e.status === 422)
            scheduleError = e.message;
        else
            office.failed(e);
    }
    office.render();
}

/** Fills the form from the last session: its title, its sites, its hours on the next day. */
async function fromLastSession() {
    const last = sessions[0];
    if (!last || !office.api)
        return;
    try {
        const detail = await office.api.session(last.id);
        const start = Date.parse(detail.scheduled_start || '');
        const end = Date.parse(detail.scheduled_end || '');
        /** @type {HTMLInputElement} */ ($('schedule-title')).value = detail.title;
        /** @type {HTMLSelectElement} */ ($('schedule-kind')).value = detail.kind ?? 'grassroots';
        if (Number.isFinite(start) && Number.isFinite(end)) {
            // The same hours, on the first day after today.
            const days = Math.max(1, Math.ceil((Date.now() - start) / DAY));
            /** @type {HTMLInputElement} */ ($('schedule-start')).value = wallInput(start + days * DAY, DEFAULT_ZONE);
            /** @type {HTMLInputElement} */ ($('schedule-end')).value = wallInput(end + days * DAY, DEFAULT_ZONE);
        }
        chosen = new Set(detail.invites.map(invite => invite.site));
        scheduleError = '';
    } catch (e) {
        office.failed(e);
    }
    office.render();
}

/**
 * Starts, ends or cancels a session, after asking when it cuts a conference short. A cancel
 * is refused once the session has gone live meanwhile: said, and the lists shown afresh.
 * @param {Session} session
 * @param {'start'|'end'|'cancel'} move
 */
async function moveSession(session, move) {
    if (!office.api)
        return;
    const question = move === 'end' ? 'office.confirm_end' : 'office.confirm_cancel';
    if (move !== 'start' && !confirm(t(question, {title: session.title})))
        return;
    try {
        await office.api.move(session.id, move);
        office.alertText = '';
        await office.refresh();
    } catch (e) {
        if (e instanceof HttpError && e.error === 'session_live') {
            office.alertText = t('office.cancel_refused_live', {title: session.title});
            await office.refresh();
        } else {
            office.failed(e);
        }
    }
    office.render();
}

/**
 * The session's kind of conference, which the clerk may put right here.
 * @param {Session} session
 * @returns {HTMLSelectElement}
 */
function kindChoice(session) {
    const choice = /** @type {HTMLSelectElement} */ (element('select', 'session-kind'));
    choice.setAttribute('aria-label', t('office.kind_of', {title: session.title}));
    for (const kind of /** @type {const} */ (['grassroots', 'key'])) {
        const option = /** @type {HTMLOptionElement} */ (element('option', '', t(`session_kind.${kind}`)));
        option.value = kind;
        choice.append(option);
    }
    choice.value = session.kind ?? 'grassroots';
    choice.addEventListener('change', async () => {
        if (!office.api)
            return;
        try {
            await office.api.setKind(session.id, choice.value === 'key' ? 'key' : 'grassroots');
            await office.refresh();
        } catch (e) {
            office.failed(e);
        }
        office.render();
    });
    return choice;
}

/**
 * Opens a session's console: its link carries the host token, which the links answer holds.
 * @param {Session} session
 */
async function openConsole(session) {
    if (!office.api)
        return;
    try {
        const links = await office.api.links(session.id);
        if (links.console_url)
            location.assign(links.console_url);
        else
            office.alertText = t('office.no_console_link');
    } catch (e) {
        office.failed(e);
    }
    office.render();
}

function renderView() {
    renderSchedule();
    const upcoming = sessions.filter(s => s.state !== 'ended')
        .sort((a, b) => (a.scheduled_start || '').localeCompare(b.scheduled_start || ''));
    const past = sessions.filter(s => s.state === 'ended')
        .sort((a, b) => (b.scheduled_start || '').localeCompare(a.scheduled_start || ''));
    renderRows($('upcoming-rows'), $('upcoming-empty'), upcoming);
    renderRows($('past-rows'), $('past-empty'), past);
}

function renderSchedule() {
    const ticked = chosenSites();
    const choices = $('site-choices');
    choices.replaceChildren();
    for (const site of sites) {
        const label = element('label', 'site-choice');
        const box = /** @type {HTMLInputElement} */ (element('input'));
        box.type = 'checkbox';
        box.value = site.id;
        box.checked = ticked.has(site.id);
        label.append(box, ` ${site.name}`);
        choices.append(label);
    }
    renderChosen();
    /** @type {HTMLButtonElement} */ ($('schedule-template')).disabled = sessions.length === 0;
    const error = $('schedule-error');
    setText(error, scheduleError);
    error.hidden = !scheduleError;
    const done = $('schedule-done');
    done.hidden = !scheduled;
    if (scheduled)
        setText(done, t('office.scheduled', {title: scheduled.title, when: when(scheduled)}));
}

function renderChosen() {
    const ticked = chosenSites();
    const people = sites.filter(site => ticked.has(site.id)).reduce((sum, site) => sum + site.expected, 0);
    setText($('sites-chosen'), t('office.sites_chosen', {
        chosen: formatNumber(sites.filter(site => ticked.has(site.id)).length),
        total: formatNumber(sites.length),
        people: formatNumber(people),
    }));
}

/**
 * @param {Session} session
 * @returns {string}
 */
function when(session) {
    return `${formatDateTime(session.scheduled_start, DEFAULT_ZONE)} – ${formatClock(session.scheduled_end, DEFAULT_ZONE)}`;
}

/**
 * @param {HTMLElement} body
 * @param {HTMLElement} empty
 * @param {Session[]} list
 */
function renderRows(body, empty, list) {
    body.replaceChildren();
    for (const session of list) {
        body.append(sessionRow(session));
        const listed = recordings.row(session, 4);
        if (listed)
            body.append(listed);
    }
    empty.hidden = list.length > 0;
}

/**
 * @param {Session} session
 * @returns {HTMLTableRowElement}
 */
function sessionRow(session) {
    const row = /** @type {HTMLTableRowElement} */ (element('tr'));
    row.dataset.session = session.id;
    const cancelled = session.state === 'ended' && !session.started_at;
    const state = element('span', 'badge', cancelled ? t('office.state_cancelled') : t(`state.${session.state}`));
    state.dataset.state = cancelled ? 'cancelled' : session.state;
    const stateCell = element('td');
    stateCell.append(state);
    const name = element('td', 'session-name', session.title);
    name.append(' ', kindChoice(session));
    row.append(element('td', 'num', when(session)), name, stateCell);
    const actions = element('td', 'row-actions');
    /**
     * @param {string} key
     * @param {() => void} action
     * @param {string} [className]
     */
    const button = (key, action, className = 'button small-button') => {
        const made = element('button', className, t(key));
        made.setAttribute('type', 'button');
        made.addEventListener('click', action);
        actions.append(made);
    };
    /**
     * @param {string} key
     * @param {string} href
     */
    const link = (key, href) => {
        const made = element('a', 'button small-button', t(key));
        made.setAttribute('href', href);
        actions.append(made);
    };
    const id = encodeURIComponent(session.id);
    if (session.state === 'scheduled') {
        button('office.start', () => moveSession(session, 'start'), 'button primary small-button');
        button('office.cancel', () => moveSession(session, 'cancel'));
    } else if (session.state === 'live') {
        button('office.end', () => moveSession(session, 'end'));
    }
    if (session.state !== 'ended')
        button('office.console', () => openConsole(session));
    link('office.links', `/office/sessions/${id}/links`);
    if (!cancelled)
        link('office.attendance', `/attendance/${id}`);
    if (session.started_at) {
        button('office.recordings', () => void recordings.toggle(session.id));
        actions.lastElementChild?.setAttribute('aria-expanded', String(recordings.isOpen(session.id)));
    }
    row.append(actions);
    return row;
}

bindControls();
office.start();
