// @ts-check
/**
 * A session's links (/office/sessions/{id}/links): each hall's join link on a card with its QR
 * code (an SVG the server makes, POST /api/qr) and a copy button, a re-issue (a new link, the
 * old one refused at once and the hall's open page told) and the undo of a removal; printed,
 * the cards make an A4 sheet, one hall a card. Above them, never printed, the district hall's
 * console link (it carries the host token), copied or re-issued the same way. The admin token
 * and the shell: office.js.
 */

import {byId as $, element, pathPart, setText} from './dom.js';
import {formatClock, formatDateTime, t} from './i18n.js';
import {OfficePage} from './office.js';
import {DEFAULT_ZONE} from './zone.js';

/**
 * @typedef {import('./adminapi.js').SessionLinks} SessionLinks
 * @typedef {import('./adminapi.js').HallLink} HallLink
 */

const sessionId = pathPart(3);

/** @type {SessionLinks|null} */
let links = null;
/** @type {Map<string, string>} each join link's QR code, a data: URI */
const codes = new Map();
/** @type {string} what the last action did */
let status = '';

const office = new OfficePage(async api => {
    links = await api.links(sessionId);
    const missing = links.sites.map(hall => hall.join_url).filter(url => url !== null && !codes.has(url));
    const urls = /** @type {string[]} */ ([...new Set(missing)]);
    if (urls.length) {
        const svgs = await api.qr(urls);
        urls.forEach((url, i) => codes.set(url, svgs[i]));
    }
}, renderView);

/**
 * @param {HallLink} hall
 * @param {'reissue'|'restore'} move
 */
async function changeLink(hall, move) {
    if (!office.api)
        return;
    if (move === 'reissue' && !confirm(t('office.confirm_reissue', {name: hall.name})))
        return;
    try {
        await office.api.hallLink(sessionId, hall.site, move);
        status = t(move === 'reissue' ? 'office.reissued' : 'office.restored', {name: hall.name});
        office.alertText = '';
        await office.refresh();
    } catch (e) {
        office.failed(e);
    }
    office.render();
}

/** New console and attendance links: the old host token is refused at once. */
async function reissueHost() {
    if (!office.api || !links || !confirm(t('office.confirm_host_reissue')))
        return;
    try {
        links = await office.api.reissueHost(sessionId);
        status = t('office.host_reissued');
        office.alertText = '';
    } catch (e) {
        office.failed(e);
    }
    office.render();
}

/**
 * @param {string|null} url
 * @param {string} name whose link it is
 */
async function copyLink(url, name) {
    if (!url)
        return;
    try {
        await navigator.clipboard.writeText(url);
        status = t('office.copied', {name});
    } catch {
        status = t('office.copy_failed');
    }
    office.render();
}

function renderView() {
    if (!links)
        return;
    const when = `${formatDateTime(links.scheduled_start, DEFAULT_ZONE)} – ${formatClock(links.scheduled_end, DEFAULT_ZONE)}`;
    document.title = `${t('office.links_doc_title')} · ${links.title}`;
    setText($('links-title'), links.title);
    setText($('links-when'), when);
    $('links-note').hidden = links.sites.every(hall => hall.join_url !== null);
    renderHost(links);
    const said = $('links-status');
    setText(said, status);
    said.hidden = !status;
    const cards = $('cards');
    cards.replaceChildren();
    for (const hall of links.sites)
        cards.append(card(hall, when));
}

/** @param {SessionLinks} shown */
function renderHost(shown) {
    const open = shown.state !== 'ended';
    $('host-links').hidden = !open;
    const consoleLink = /** @type {HTMLAnchorElement} */ ($('host-console'));
    setText(consoleLink, shown.console_url || '');
    consoleLink.href = shown.console_url || '';
    consoleLink.hidden = !shown.console_url;
    $('host-hidden').hidden = shown.console_url !== null;
    /** @type {HTMLButtonElement} */ ($('host-copy')).disabled = !shown.console_url;
}

/**
 * @param {HallLink} hall
 * @param {string} when
 * @returns {HTMLElement}
 */
function card(hall, when) {
    const made = element('article', hall.removed ? 'link-card removed' : 'link-card');
    made.dataset.site = hall.site;
    made.append(element('h2', 'link-name', hall.name));
    const code = hall.join_url ? codes.get(hall.join_url) : undefined;
    if (code) {
        const image = /** @type {HTMLImageElement} */ (element('img', 'link-qr'));
        image.src = code;
        image.alt = t('office.qr_of', {name: hall.name});
        made.append(image);
    }
    made.append(
        element('p', 'link-url', hall.join_url || t('office.link_hidden')),
        element('p', 'link-when', when),
    );
    if (hall.removed)
        made.append(element('p', 'link-removed no-print', t('office.removed')));
    const actions = element('div', 'link-actions no-print');
    /**
     * @param {string} key
     * @param {() => void} action
     */
    const button = (key, action) => {
        const made = element('button', 'button small-button', t(key));
        made.setAttribute('type', 'button');
        made.addEventListener('click', action);
        actions.append(made);
    };
    if (hall.join_url)
        button('office.copy', () => copyLink(hall.join_url, hall.name));
    const open = links?.state !== 'ended';
    if (open)
        button('office.reissue', () => changeLink(hall, 'reissue'));
    if (open && hall.removed)
        button('office.restore', () => changeLink(hall, 'restore'));
    made.append(actions);
    return made;
}

$('print').addEventListener('click', () => print());
$('host-copy').addEventListener('click', () => copyLink(links?.console_url ?? null, t('office.host_heading')));
$('host-reissue').addEventListener('click', () => void reissueHost());
office.start();
