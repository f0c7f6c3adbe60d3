// @ts-check
/**
 * The few DOM helpers every page uses, in one place.
 */

/**
 * The element with this id (the pages' markup guarantees it; tests check every id exists).
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
    return /** @type {HTMLElement} */ (document.getElementById(id));
}

/**
 * One segment of the page's path (/console/{session}), '' when absent or malformed.
 * @param {number} index
 * @returns {string}
 */
export function pathPart(index) {
    try {
        return decodeURIComponent(location.pathname.split('/')[index] || '');
    } catch {
        return '';
    }
}

/**
 * Sets an element's text only when it changes, so live regions don't repeat themselves.
 * @param {Element} element
 * @param {string} text
 */
export function setText(element, text) {
    if (element.textContent !== text)
        element.textContent = text;
}

/**
 * An HTML element with a class and text.
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElement}
 */
export function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className)
        made.className = className;
    if (text !== undefined)
        made.textContent = text;
    return made;
}

/** How long a saved file's blob URL is kept, in ms: long enough for the download. */
const BLOB_LIFETIME = 60_000;

/**
 * Hands a fetched file to the browser as a download.
 * @param {{blob: Blob, filename: string}} file
 */
export function saveFile(file) {
    const url = URL.createObjectURL(file.blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = file.filename;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), BLOB_LIFETIME);
}
