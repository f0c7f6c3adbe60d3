// @ts-check
/**
 * /checkin/{code}: the phone's check-in page, opened from the hall's QR code. No token: the
 * code in the path is the credential, and it is good for a minute at most. The person finds
 * their name in the hall's roster (diacritics-insensitive), confirms, and is checked in; the
 * page says plainly when someone is already checked in (and where), when the code has expired
 * (scan again), and when it is not a code at all.
 */

import {byId as $, element, pathPart, setText} from './dom.js';
import {HttpError} from './httperror.js';
import {bindLanguageButtons, formatTime, initI18n, onLanguageChange, t} from './i18n.js';
import {checkIn, findPeople, readCode} from './checkinapi.js';
import {problemText} from './checkinpanel.js';

const code = pathPart(2);

/** @type {import('./checkinapi.js').PhonePage|null} */
let page = null;
/** @type {import('./checkinapi.js').PhonePerson|null} the name picked, until confirmed */
let picked = null;
/** @type {{key: string, vars?: Record<string, string|number>, tone: 'ok'|'error'|''}} */
let message = {key: 'phone.loading', tone: ''};
/** Whether this phone has checked its person in: nothing more to do. */
let done = false;
let sending = false;

async function main() {
    await initI18n();
    bindLanguageButtons(document);
    onLanguageChange(render);
    $('phone-search').addEventListener('input', render);
    $('phone-confirm-yes').addEventListener('click', () => void confirm());
    $('phone-confirm-no').addEventListener('click', () => {
        picked = null;
        message = {key: 'phone.pick', tone: ''};
        render();
    });
    try {
        page = await readCode(code);
        message = {key: 'phone.pick', tone: ''};
        // The name picked before a code ran out: scanned again, only the confirmation is left.
        const before = page.people.find(p => p.id === remembered(page) && !p.checked_in);
        if (before) {
            picked = before;
            message = {key: '', tone: ''};
        }
    } catch (e) {
        message = failure(e);
    }
    render();
}

async function confirm() {
    if (!picked || sending)
        return;
    sending = true;
    render();
    try {
        const event = await checkIn(code, picked.id);
        done = true;
        remember(page, null);
        message = {key: 'phone.done', vars: {name: picked.name, time: formatTime(event.ts)}, tone: 'ok'};
    } catch (e) {
        message = failure(e);
        if (e instanceof HttpError && e.error === 'code_expired')
            remember(page, picked.id);
        if (e instanceof HttpError && e.error === 'already_checked_in' && page)
            for (const person of page.people)
                if (person.id === picked.id)
                    person.checked_in = true;
        picked = null;
    } finally {
        sending = false;
    }
    render();
}

/**
 * Where this phone keeps the name it picked for a hall, while it scans a fresh code.
 * @param {import('./checkinapi.js').PhonePage} at
 */
function pickedKey(at) {
    return `diemcau.checkin.picked.${at.session}.${at.site}`;
}

/**
 * @param {import('./checkinapi.js').PhonePage|null} at
 * @returns {string|null}
 */
function remembered(at) {
    try {
        return at ? localStorage.getItem(pickedKey(at)) : null;
    } catch {
        return null; // storage disabled: pick the name again
    }
}

/**
 * @param {import('./checkinapi.js').PhonePage|null} at
 * @param {string|null} person
 */
function remember(at, person) {
    if (!at)
        return;
    try {
        // localStorage: the next scan opens the page in a new tab.
        if (person)
            localStorage.setItem(pickedKey(at), person);
        else
            localStorage.removeItem(pickedKey(at));
    } catch {
        // Storage disabled.
    }
}

/**
 * @param {unknown} e
 * @returns {typeof message}
 */
function failure(e) {
    if (e instanceof HttpError && e.error === 'not_found')
        return {key: 'phone.unknown_code', tone: 'error'};
    if (e instanceof HttpError && e.error === 'code_expired')
        return {key: 'phone.expired', tone: 'error'};
    return {key: '', vars: {text: problemText(e)}, tone: 'error'};
}

function render() {
    setText($('phone-title'), page ? page.title || '' : '');
    setText($('phone-site'), page ? page.site_name || page.site : '');
    document.title = t('phone.doc_title');
    const text = message.key ? t(message.key, message.vars) : String(message.vars?.text || '');
    const line = $('phone-message');
    setText(line, text);
    line.dataset.tone = message.tone;
    const open = page !== null && !done && message.key !== 'phone.expired';
    $('phone-pick').hidden = !open || picked !== null;
    $('phone-confirm').hidden = !open || picked === null;
    if (picked)
        setText($('phone-confirm-text'), t('phone.confirm_text', {name: picked.name}));
    /** @type {HTMLButtonElement} */ ($('phone-confirm-yes')).disabled = sending;
    if (open && !picked)
        drawPeople();
}

function drawPeople() {
    if (!page)
        return;
    const query = /** @type {HTMLInputElement} */ ($('phone-search')).value;
    const shown = findPeople(page.people, query);
    const items = shown.map(person => {
        const item = element('li');
        const button = /** @type {HTMLButtonElement} */ (element('button', 'phone-person'));
        button.type = 'button';
        button.dataset.person = person.id;
        button.append(element('strong', '', person.name));
        if (person.position)
            button.append(element('small', '', person.position));
        if (person.checked_in) {
            button.disabled = true;
            button.append(element('small', 'phone-person-done', t('phone.already')));
        }
        button.addEventListener('click', () => {
            picked = person;
            message = {key: '', tone: ''};
            render();
        });
        item.append(button);
        return item;
    });
    if (!items.length)
        items.push(element('li', 'phone-none', t('checkin.none_found')));
    $('phone-people').replaceChildren(...items);
}

void main();
