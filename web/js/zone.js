// @ts-check
/**
 * Calendar and clock arithmetic in a named time zone (the district's, from the API), for the
 * attendance page: local dates for the period form, and round local times for the timeline's
 * axis. No DOM here; time enters only as arguments.
 */

/** The zone the API reports in when it says nothing else. */
export const DEFAULT_ZONE = 'Asia/Ho_Chi_Minh';

const MINUTE = 60_000;

/** Axis steps to choose from, in ms: the smallest that keeps the ticks few enough wins. */
const TICK_STEPS = [
    10_000, 15_000, 30_000,
    MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
    60 * MINUTE, 120 * MINUTE, 180 * MINUTE, 360 * MINUTE, 720 * MINUTE, 1440 * MINUTE,
];

/** @type {Map<string, Intl.DateTimeFormat>} */
const partsFormats = new Map();

/**
 * The wall-clock fields of a moment in a zone.
 * @param {number} ms since the epoch
 * @param {string} timeZone IANA zone
 * @returns {{year: number, month: number, day: number, hour: number, minute: number, second: number}}
 */
export function wallClock(ms, timeZone) {
    let format = partsFormats.get(timeZone);
    if (!format) {
        format = new Intl.DateTimeFormat('en-US', {
            timeZone, hourCycle: 'h23',
            year: 'numeric', month: 'numeric', day: 'numeric',
            hour: 'numeric', minute: 'numeric', second: 'numeric',
        });
        partsFormats.set(timeZone, format);
    }
    /** @type {Record<string, number>} */
    const fields = {};
    for (const part of format.formatToParts(new Date(ms)))
        if (part.type !== 'literal')
            fields[part.type] = Number(part.value);
    return {
        year: fields.year, month: fields.month, day: fields.day,
        hour: fields.hour % 24, minute: fields.minute, second: fields.second,
    };
}

/**
 * How far the zone's wall clock is ahead of UTC at a moment, in ms (+7 h for Việt Nam).
 * @param {number} ms since the epoch
 * @param {string} timeZone
 * @returns {number}
 */
export function zoneOffset(ms, timeZone) {
    const c = wallClock(ms, timeZone);
    const asUtc = Date.UTC(c.year, c.month - 1, c.day, c.hour, c.minute, c.second);
    return asUtc - (Math.floor(ms / 1000) * 1000);
}

/**
 * A moment as the zone's wall clock in the form a datetime-local field takes, YYYY-MM-DDTHH:MM.
 * @param {number} ms since the epoch
 * @param {string} timeZone
 * @returns {string}
 */
export function wallInput(ms, timeZone) {
    const c = wallClock(ms, timeZone);
    return `${localDate(ms, timeZone)}T${pad(c.hour)}:${pad(c.minute)}`;
}

/**
 * The moment a datetime-local field's YYYY-MM-DDTHH:MM means on the zone's wall clock, or null.
 * @param {string} text
 * @param {string} timeZone
 * @returns {number|null} ms since the epoch
 */
export function fromWallInput(text, timeZone) {
    const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(text);
    if (!match)
        return null;
    const [year, month, day, hour, minute] = match.slice(1).map(Number);
    const asUtc = Date.UTC(year, month - 1, day, hour, minute);
    // The offset at the guess, then at the moment found (a zone that changes its clocks).
    const first = asUtc - zoneOffset(asUtc, timeZone);
    return asUtc - zoneOffset(first, timeZone);
}

/**
 * The zone's calendar date of a moment, as YYYY-MM-DD.
 * @param {number} ms since the epoch
 * @param {string} timeZone
 * @returns {string}
 */
export function localDate(ms, timeZone) {
    const c = wallClock(ms, timeZone);
    return `${String(c.year).padStart(4, '0')}-${pad(c.month)}-${pad(c.day)}`;
}

/**
 * The calendar year holding a moment, in the zone: its first and last dates.
 * @param {number} ms since the epoch
 * @param {string} timeZone
 * @returns {{from: string, to: string}}
 */
export function yearOf(ms, timeZone) {
    const year = String(wallClock(ms, timeZone).year).padStart(4, '0');
    return {from: `${year}-01-01`, to: `${year}-12-31`};
}

/**
 * True for a real calendar date written YYYY-MM-DD.
 * @param {string} text
 * @returns {boolean}
 */
export function isDate(text) {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!match)
        return false;
    const [year, month, day] = match.slice(1).map(Number);
    const date = new Date(Date.UTC(year, month - 1, day));
    return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1
        && date.getUTCDate() === day;
}

/**
 * Round local times between start and end for an axis: at most about `most` of them, on a
 * step a reader expects (every 5, 10, 15, 30 minutes, every hour…) counted in the zone.
 * @param {number} start ms since the epoch
 * @param {number} end ms since the epoch
 * @param {string} timeZone
 * @param {number} [most]
 * @returns {{step: number, ticks: number[]}} the step in ms, the ticks in ms since the epoch
 */
export function axisTicks(start, end, timeZone, most = 8) {
    const span = end - start;
    if (!(span > 0))
        return {step: 0, ticks: []};
    const step = TICK_STEPS.find(candidate => span / candidate <= most) || TICK_STEPS[TICK_STEPS.length - 1];
    // Counted on the wall clock: the offset of the window's start holds across it (Việt Nam
    // has no daylight saving; elsewhere a change inside a meeting moves the ticks by the change).
    const offset = zoneOffset(start, timeZone);
    /** @type {number[]} */
    const ticks = [];
    for (let local = Math.ceil((start + offset) / step) * step; local - offset <= end; local += step)
        ticks.push(local - offset);
    return {step, ticks};
}

/**
 * Where a moment falls across a window, from 0 (its start) to 1 (its end), clamped.
 * @param {number} ms
 * @param {number} start
 * @param {number} end
 * @returns {number}
 */
export function fraction(ms, start, end) {
    if (!(end > start))
        return 0;
    return Math.min(1, Math.max(0, (ms - start) / (end - start)));
}

/**
 * The outages of a site: the gaps between its connected intervals, which come sorted and
 * disjoint from the API.
 * @param {Array<[number, number]>} intervals ms since the epoch
 * @returns {Array<[number, number]>}
 */
export function gapsBetween(intervals) {
    /** @type {Array<[number, number]>} */
    const gaps = [];
    for (let i = 1; i < intervals.length; i += 1)
        if (intervals[i][0] > intervals[i - 1][1])
            gaps.push([intervals[i - 1][1], intervals[i][0]]);
    return gaps;
}

/** @param {number} value */
function pad(value) {
    return String(value).padStart(2, '0');
}
