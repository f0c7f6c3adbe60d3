// @ts-check
/**
 * Check-in at the hall, as the pages call it (docs/api.md, Check-in), and the search the
 * clerks and the phones find names with. No DOM here.
 *
 *   the join page's QR code     hallCode(api, site)
 *   the phone's page            readCode(code), checkIn(code, person): no token, the code is it
 *   the clerks' lists           hallPeople(api, site), tick, revokeCheckin, markAbsent, unmarkAbsent
 */

import {requestJson} from './api.js';

/**
 * @typedef {Object} HallCode
 * @property {string} url the check-in URL, its last segment the code
 * @property {string} expires_at RFC 3339: refused after this
 * @property {string} refresh_at RFC 3339: the next slot, when to draw a new one
 * @property {string} qr the URL as a QR code, a data:image/svg+xml URI
 */

/**
 * @typedef {Object} PhonePerson
 * @property {string} id
 * @property {string} name
 * @property {string} [position]
 * @property {boolean} [checked_in]
 */

/**
 * @typedef {Object} PhonePage
 * @property {string} session
 * @property {string} [title]
 * @property {string} site
 * @property {string} [site_name]
 * @property {PhonePerson[]} people
 * @property {string} expires_at RFC 3339
 */

/**
 * A person of a hall and their standing now, for the clerks.
 * @typedef {Object} HallPerson
 * @property {string} id
 * @property {string} name
 * @property {string|null} code
 * @property {string} position
 * @property {string} unit
 * @property {boolean} checked_in
 * @property {string|null} checked_in_at RFC 3339
 * @property {string|null} checked_in_site
 * @property {string|null} checked_in_site_name
 * @property {'qr'|'clerk'|null} method
 * @property {boolean} excused
 * @property {string|null} reason
 */

/**
 * A people event as written, the answer to every check-in and correction.
 * @typedef {Object} PeopleEvent
 * @property {number} seq
 * @property {'checkin'|'checkin_revoked'|'absence'|'absence_revoked'} type
 * @property {string} ts RFC 3339
 * @property {string} site
 * @property {string} person
 * @property {'site'|'admin'} by
 * @property {string} [method]
 * @property {string} [reason]
 */

/**
 * What the API of one session offers these calls: api.js's SessionApi.
 * @typedef {{request: <T>(method: string, action: string, body?: unknown) => Promise<T>}} Api
 */

/**
 * Text as a search compares it: lowercase, spaces collapsed, without diacritics, đ as d, so
 * that "nguyen van a" finds "Nguyễn Văn A" (server/people.py's search_key, the same way).
 * @param {string} text
 * @returns {string}
 */
export function searchKey(text) {
    return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
        .replace(/đ/g, 'd').split(/\s+/).filter(Boolean).join(' ');
}

/**
 * The people whose name (or position, unit, code) holds every word of `query`, in order.
 * @template {{name: string, position?: string, unit?: string, code?: string|null}} P
 * @param {P[]} people
 * @param {string} query
 * @returns {P[]}
 */
export function findPeople(people, query) {
    const words = searchKey(query).split(' ').filter(Boolean);
    if (!words.length)
        return people;
    return people.filter(person => {
        const text = searchKey([person.name, person.position, person.unit, person.code]
            .filter(Boolean).join(' '));
        return words.every(word => text.includes(word));
    });
}

/**
 * @param {Api} api
 * @param {string} site
 * @returns {Promise<HallCode>}
 */
export function hallCode(api, site) {
    return api.request('GET', `sites/${encodeURIComponent(site)}/checkin`);
}

/**
 * @param {string} code
 * @returns {Promise<PhonePage>}
 */
export function readCode(code) {
    return requestJson('GET', `/api/checkin/${encodeURIComponent(code)}`, '');
}

/**
 * @param {string} code
 * @param {string} person
 * @returns {Promise<PeopleEvent>}
 */
export function checkIn(code, person) {
    return requestJson('POST', `/api/checkin/${encodeURIComponent(code)}`, '', {person});
}

/**
 * @param {Api} api
 * @param {string} site
 * @returns {Promise<{session: string, site: string, people: HallPerson[]}>}
 */
export function hallPeople(api, site) {
    return api.request('GET', `sites/${encodeURIComponent(site)}/people`);
}

/**
 * The hall's clerk ticks a name (method 'clerk').
 * @param {Api} api
 * @param {string} site
 * @param {string} person
 * @returns {Promise<PeopleEvent>}
 */
export function tick(api, site, person) {
    return api.request('POST', `sites/${encodeURIComponent(site)}/checkins`, {person});
}

/**
 * @param {Api} api
 * @param {string} person
 * @param {'checkin/revoke'|'absence'|'absence/revoke'} what
 * @param {string} reason
 * @returns {Promise<PeopleEvent>}
 */
export function correct(api, person, what, reason) {
    return api.request('POST', `people/${encodeURIComponent(person)}/${what}`, {reason});
}
