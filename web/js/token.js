// @ts-check
/**
 * The bearer token a link carries in its fragment (…#token=…).
 *
 * The fragment never reaches the server or a Referer header. Once read, the token is kept
 * in sessionStorage (so a reload of this tab still works) and removed from the address bar
 * (so it does not end up on a screenshot or a projector).
 */

/**
 * Takes the token from the fragment, or from this tab's storage when the fragment has none.
 * @param {string} storageKey one key per page and session
 * @returns {string|null}
 */
export function takeToken(storageKey) {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    const fromLink = params.get('token');
    if (fromLink) {
        try {
            sessionStorage.setItem(storageKey, fromLink);
        } catch {
            // Storage disabled: the token lives in memory only.
        }
        params.delete('token');
        const rest = params.toString();
        history.replaceState(history.state, '',
            location.pathname + location.search + (rest ? `#${rest}` : ''));
        return fromLink;
    }
    try {
        return sessionStorage.getItem(storageKey);
    } catch {
        return null;
    }
}

/**
 * Forgets a stored token (the server said it is invalid).
 * @param {string} storageKey
 */
export function forgetToken(storageKey) {
    try {
        sessionStorage.removeItem(storageKey);
    } catch {
        // Nothing stored.
    }
}
