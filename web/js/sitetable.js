// @ts-check
/**
 * The rows of the console's table of invited halls: the hall and its kind, its connection and
 * since when, the people it reported present, its counts; and the table's totals.
 */

import {causeNote} from './cause.js';
import {element, setText} from './dom.js';
import {
    formatBytes, formatDuration, formatNumber, formatPercent, formatTime, hasText, t,
} from './i18n.js';

/**
 * The sites added up: as the server adds them when it does, else counted here.
 * @param {import('./api.js').SitesReport|null} report
 * @returns {import('./api.js').SitesTotals}
 */
export function sitesTotals(report) {
    if (report && report.totals)
        return report.totals;
    const sites = report ? report.sites : [];
    const expected = sites.reduce((sum, site) => sum + (site.expected || 0), 0);
    const headcount = sites.reduce((sum, site) => sum + (site.headcount || 0), 0);
    return {
        invited: sites.length,
        connected: sites.filter(site => site.connected).length,
        expected,
        headcount,
        participation_rate: expected ? headcount / expected : null,
    };
}

/**
 * An empty row: the site (name, and kind below it), the connection (word and dot, and since
 * when below it), then the people reported present, then the counts.
 * @returns {HTMLTableRowElement}
 */
export function siteRow() {
    const row = /** @type {HTMLTableRowElement} */ (element('tr'));
    const site = element('th');
    site.setAttribute('scope', 'row');
    site.append(element('span', 'site-name'), element('span', 'site-kind'));
    const connection = element('span', 'connection');
    const dot = element('span', 'dot');
    dot.setAttribute('aria-hidden', 'true');
    connection.append(dot, element('span'));
    const status = element('td');
    status.append(connection, element('span', 'since'), element('span', 'cause'));
    row.append(site, status, element('td', 'num'), element('td', 'num checked-in'),
        element('td', 'num'), element('td', 'num'), element('td', 'num'));
    return row;
}

/**
 * @param {HTMLTableRowElement} row
 * @param {import('./api.js').SiteStatus} site
 */
export function fillSiteRow(row, site) {
    const [name, kind] = /** @type {HTMLElement[]} */ ([...row.cells[0].children]);
    const [connection, sinceText, cause] = /** @type {HTMLElement[]} */ ([...row.cells[1].children]);
    row.dataset.connected = String(site.connected);
    setText(name, site.name);
    setText(kind, hasText(`kind.${site.kind}`) ? t(`kind.${site.kind}`) : site.kind || '');
    connection.dataset.connected = String(site.connected);
    setText(/** @type {HTMLElement} */ (connection.lastElementChild),
        site.connected ? t('sites.connected') : t('sites.not_connected'));
    let since = '';
    if (site.connected && site.connected_since) {
        const started = Date.parse(site.connected_since);
        since = Number.isNaN(started) ? '' : t('sites.since_value', {
            time: formatTime(site.connected_since),
            duration: formatDuration(Date.now() - started),
        });
    }
    setText(sinceText, since);
    // Why a hall not connected is missing, in the attendance page's words (cause.js).
    const why = causeNote(site);
    setText(cause, why ? why.textContent || '' : '');
    cause.dataset.cause = site.cause || '';
    const people = row.cells[2];
    const reported = typeof site.headcount === 'number';
    setText(people, t('sites.headcount_value', {
        headcount: reported ? formatNumber(/** @type {number} */ (site.headcount)) : '—',
        expected: formatNumber(site.expected || 0),
    }));
    people.dataset.reported = String(reported);
    people.title = reported && site.headcount_at
        ? t('sites.headcount_at', {time: formatTime(site.headcount_at)}) : '';
    fillCheckedIn(row.cells[3], site);
    setText(row.cells[4], formatNumber(site.connections || 0));
    setText(row.cells[5], formatNumber(site.packets_sent || 0));
    setText(row.cells[6], formatBytes(site.bytes_sent || 0));
}

/**
 * The hall's roster so far: checked in of expected, and how many are excused; a dash without
 * a roster.
 * @param {HTMLTableCellElement} cell
 * @param {import('./api.js').SiteStatus} site
 */
function fillCheckedIn(cell, site) {
    const rostered = typeof site.people_expected === 'number';
    cell.dataset.rostered = String(rostered);
    if (!rostered) {
        setText(cell, '—');
        return;
    }
    const numbers = {
        present: formatNumber(site.people_present || 0),
        expected: formatNumber(site.people_expected || 0),
        excused: formatNumber(site.people_excused || 0),
    };
    setText(cell, t(site.people_excused ? 'sites.checked_in_excused' : 'sites.checked_in_value',
        numbers));
}

/**
 * The totals line of the people checked in, or '' when no hall has a roster.
 * @param {import('./api.js').SitesTotals} totals
 * @returns {string}
 */
export function checkedInText(totals) {
    if (!totals.people_expected)
        return '';
    return t('sites.people_checked', {
        present: formatNumber(totals.people_present || 0),
        expected: formatNumber(totals.people_expected),
        rate: formatPercent(totals.people_present_rate ?? null),
        excused: formatNumber(totals.people_excused || 0),
    });
}
