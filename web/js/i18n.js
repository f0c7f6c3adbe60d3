// @ts-check
/**
 * The pages' words, in Vietnamese (default) and English, from /static/i18n/{lang}.json.
 *
 * Elements name their text with attributes, applied by applyI18n():
 *   data-i18n="key"        text content
 *   data-i18n-label="key"  aria-label
 *   data-i18n-title="key"  title
 * The chosen language is kept in localStorage.
 */

/** @typedef {'vi'|'en'} Language */

/** @type {Language[]} */
export const LANGUAGES = ['vi', 'en'];

const STORAGE_KEY = 'diemcau.language';

/** @type {Record<string, Record<string, string>>} */
const catalogs = {};

/** @type {Language} */
let language = 'vi';

/** @type {Set<() => void>} */
const listeners = new Set();

/**
 * Loads both catalogs and applies the stored language to the document.
 * @returns {Promise<void>}
 */
export async function initI18n() {
    language = storedLanguage();
    await Promise.all(LANGUAGES.map(async lang => {
        try {
            const response = await fetch(`/static/i18n/${lang}.json`, {cache: 'no-cache'});
            catalogs[lang] = response.ok ? await response.json() : {};
        } catch {
            catalogs[lang] = {};
        }
    }));
    applyI18n(document);
}

/** @returns {Language} */
export function currentLanguage() {
    return language;
}

/**
 * Switches language, re-applies the attributes and tells the listeners.
 * @param {Language} lang
 */
export function setLanguage(lang) {
    if (!LANGUAGES.includes(lang) || lang === language)
        return;
    language = lang;
    try {
        localStorage.setItem(STORAGE_KEY, lang);
    } catch {
        // Storage disabled: the choice lasts as long as the page.
    }
    applyI18n(document);
    for (const listener of listeners)
        listener();
}

/**
 * Calls `listener` after every change of language (to redraw text set from code).
 * @param {() => void} listener
 */
export function onLanguageChange(listener) {
    listeners.add(listener);
}

/**
 * The text for `key` with {name} placeholders filled from `vars`. Falls back to the
 * Vietnamese text, then to the key itself.
 * @param {string} key
 * @param {Record<string, string|number>} [vars]
 * @returns {string}
 */
export function t(key, vars) {
    const text = catalogs[language]?.[key] ?? catalogs.vi?.[key] ?? key;
    if (!vars)
        return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => name in vars ? String(vars[name]) : whole);
}

/**
 * True when the catalogs have `key`, for keys made from data (a site's kind).
 * @param {string} key
 * @returns {boolean}
 */
export function hasText(key) {
    return key in (catalogs[language] || {});
}

/**
 * Fills the text and labels of every element under `root` that names a key.
 * @param {ParentNode} root
 */
export function applyI18n(root) {
    document.documentElement.lang = language;
    for (const element of root.querySelectorAll('[data-i18n]'))
        element.textContent = t(element.getAttribute('data-i18n') || '');
    for (const element of root.querySelectorAll('[data-i18n-label]'))
        element.setAttribute('aria-label', t(element.getAttribute('data-i18n-label') || ''));
    for (const element of root.querySelectorAll('[data-i18n-title]'))
        element.setAttribute('title', t(element.getAttribute('data-i18n-title') || ''));
    for (const button of root.querySelectorAll('[data-language]'))
        button.setAttribute('aria-pressed', String(button.getAttribute('data-language') === language));
}

/**
 * Wires the VI/EN buttons (elements with data-language) under `root`.
 * @param {ParentNode} root
 */
export function bindLanguageButtons(root) {
    for (const button of root.querySelectorAll('[data-language]')) {
        button.addEventListener('click', () => {
            setLanguage(/** @type {Language} */ (button.getAttribute('data-language')));
        });
    }
}

/** @returns {Language} */
function storedLanguage() {
    try {
        const stored = localStorage.getItem(STORAGE_KEY);
        if (stored === 'vi' || stored === 'en')
            return stored;
    } catch {
        // Storage disabled.
    }
    return 'vi';
}

/** @returns {string} the BCP 47 locale for number and date formats */
function locale() {
    return language === 'vi' ? 'vi-VN' : 'en-GB';
}

/**
 * A moment as a Date, or null when there is none or it is not a time.
 * @param {string|number|null|undefined} when RFC 3339, or ms since the epoch
 * @returns {Date|null}
 */
function toDate(when) {
    const date = when || when === 0 ? new Date(when) : null;
    return date && !Number.isNaN(date.getTime()) ? date : null;
}

/**
 * A time and date such as "08:00, Thứ Hai 01/12/2025".
 * @param {string|number|null|undefined} when RFC 3339, or ms since the epoch
 * @param {string} [timeZone] IANA zone; the browser's own when omitted
 * @returns {string}
 */
export function formatDateTime(when, timeZone) {
    const date = toDate(when);
    if (!date)
        return '';
    return `${formatClock(date.getTime(), timeZone)}, ${formatDate(date.getTime(), timeZone, true)}`;
}

/**
 * A date such as "01/12/2025", or "Thứ Hai 01/12/2025" with the weekday.
 * @param {string|number|null|undefined} when RFC 3339, or ms since the epoch
 * @param {string} [timeZone] IANA zone; the browser's own when omitted
 * @param {boolean} [weekday]
 * @returns {string}
 */
export function formatDate(when, timeZone, weekday = false) {
    const date = toDate(when);
    if (!date)
        return '';
    const day = new Intl.DateTimeFormat(locale(), {
        day: '2-digit', month: '2-digit', year: 'numeric', timeZone,
    }).format(date);
    if (!weekday)
        return day;
    const name = new Intl.DateTimeFormat(locale(), {weekday: 'long', timeZone}).format(date);
    return `${name.charAt(0).toLocaleUpperCase(locale()) + name.slice(1)} ${day}`;
}

/**
 * A time of day such as "08:03:12".
 * @param {string|number|null|undefined} when RFC 3339, or ms since the epoch
 * @param {string} [timeZone] IANA zone; the browser's own when omitted
 * @returns {string}
 */
export function formatTime(when, timeZone) {
    const date = toDate(when);
    if (!date)
        return '';
    return new Intl.DateTimeFormat(locale(), {
        hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone,
    }).format(date);
}

/**
 * A time of day to the minute, such as "08:03".
 * @param {string|number|null|undefined} when RFC 3339, or ms since the epoch
 * @param {string} [timeZone] IANA zone; the browser's own when omitted
 * @returns {string}
 */
export function formatClock(when, timeZone) {
    const date = toDate(when);
    if (!date)
        return '';
    return new Intl.DateTimeFormat(locale(), {
        hour: '2-digit', minute: '2-digit', hour12: false, timeZone,
    }).format(date);
}

/**
 * @param {number} value
 * @param {number} [digits] fraction digits
 * @returns {string}
 */
export function formatNumber(value, digits = 0) {
    return new Intl.NumberFormat(locale(), {
        minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(value);
}

/**
 * A share such as "82%" or "82,5%"; '—' when there is none (nothing to divide by).
 * @param {number|null|undefined} ratio 0 to 1 (or more)
 * @param {number} [digits] fraction digits
 * @returns {string}
 */
export function formatPercent(ratio, digits = 0) {
    if (typeof ratio !== 'number' || !Number.isFinite(ratio))
        return '—';
    return new Intl.NumberFormat(locale(), {
        style: 'percent', minimumFractionDigits: 0, maximumFractionDigits: digits,
    }).format(ratio);
}

/**
 * A byte count such as "1,4 MB".
 * @param {number} bytes
 * @returns {string}
 */
export function formatBytes(bytes) {
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
        value /= 1000;
        unit += 1;
    }
    return `${formatNumber(value, unit === 0 || value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/**
 * A duration such as "1:05:09" or "4:12".
 * @param {number} ms
 * @returns {string}
 */
export function formatDuration(ms) {
    const seconds = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor(seconds / 60) % 60;
    const s = seconds % 60;
    const mm = h ? String(m).padStart(2, '0') : String(m);
    return `${h ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/**
 * A duration in words such as "3 giờ 5 phút" or "45 giây", for headings and sentences.
 * @param {number} seconds
 * @returns {string}
 */
export function formatSpan(seconds) {
    const whole = Math.max(0, Math.round(seconds));
    const h = Math.floor(whole / 3600);
    const m = Math.floor(whole / 60) % 60;
    if (h)
        return m ? t('span.hours_minutes', {h, m}) : t('span.hours', {h});
    if (m)
        return t('span.minutes', {m});
    return t('span.seconds', {s: whole});
}
