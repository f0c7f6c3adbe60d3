// @ts-check
/**
 * The attendance page's timeline of one session: a lane per site across the session's window,
 * its connected intervals, the outages between them, a late join or an early leave, each with
 * a tip that the pointer or the keyboard opens.
 */

import {byId as $, element, setText} from './dom.js';
import {formatClock, formatDuration, formatPercent, formatSpan, formatTime, t} from './i18n.js';
import {statusName, statusWord} from './status.js';
import {axisTicks, fraction, gapsBetween} from './zone.js';

const SVG = 'http://www.w3.org/2000/svg';

/** Opens the tips of the timeline's bars, outages and flags, on pointing or focus. */
export function bindTips() {
    const timeline = $('timeline');
    timeline.addEventListener('pointerover', event => showTip(event.target, event));
    timeline.addEventListener('pointermove', event => moveTip(event));
    timeline.addEventListener('pointerout', hideTip);
    timeline.addEventListener('focusin', event => showTip(event.target, null));
    timeline.addEventListener('focusout', hideTip);
    document.addEventListener('keydown', event => {
        if (event.key === 'Escape')
            hideTip();
    });
    window.addEventListener('scroll', hideTip, {passive: true});
}

/**
 * An SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string|number>} attributes
 * @returns {SVGElement}
 */
function svg(tag, attributes) {
    const made = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
    for (const [name, value] of Object.entries(attributes))
        made.setAttribute(name, String(value));
    return made;
}

/**
 * The timeline: one row per site across the session's window, its connected intervals as
 * bars, the outages between them marked, and a late join or an early leave flagged. Drawn in
 * percentages of the width, so it needs no measuring and prints at any size.
 * @param {import('./api.js').AttendanceReport} r
 * @param {string} tz
 */
export function renderTimeline(r, tz) {
    const start = Date.parse(r.window.start);
    const end = Date.parse(r.window.end);
    const {step, ticks} = axisTicks(start, end, tz, 8);
    const clock = step < 60_000 ? formatTime : formatClock;
    /** @param {number} ms */
    const x = ms => `${(fraction(ms, start, end) * 100).toFixed(3)}%`;
    // Keyboard focus survives the redraw of a live session.
    const focused = document.activeElement instanceof SVGElement
        ? document.activeElement.dataset.key : undefined;

    const grid = element('div', 'timeline-grid');
    const axis = svg('svg', {class: 'timeline-axis', width: '100%', height: 26, 'aria-hidden': 'true'});
    for (const tick of ticks) {
        axis.append(svg('line', {class: 'tick', x1: x(tick), x2: x(tick), y1: 18, y2: 26}));
        const label = svg('text', {x: x(tick), y: 13, 'text-anchor': 'middle'});
        label.textContent = clock(tick, tz);
        axis.append(label);
    }
    grid.append(element('div', 'timeline-corner', t('timeline.local_time', {zone: tz})), axis);

    for (const site of r.sites) {
        const label = element('div', 'timeline-name');
        label.append(element('span', 'site-name', site.name),
            statusWord(site.status, `${statusName(site.status)} · ${formatPercent(site.coverage)}`));
        const track = svg('svg', {class: 'timeline-track', width: '100%', height: 30, role: 'group'});
        track.setAttribute('aria-label', `${site.name}: ${statusName(site.status)}, ${
            t('timeline.coverage', {coverage: formatPercent(site.coverage, 1)})}`);
        track.append(svg('rect', {class: 'track-off', x: 0, y: 8, width: '100%', height: 14}));
        for (const tick of ticks)
            track.append(svg('line', {class: 'grid', x1: x(tick), x2: x(tick), y1: 0, y2: 30}));

        /** @type {Array<[number, number]>} */
        const intervals = (site.intervals || [])
            .map(([a, b]) => /** @type {[number, number]} */ ([Date.parse(a), Date.parse(b)]))
            .filter(([a, b]) => b > a);
        gapsBetween(intervals).forEach(([a, b], i) => {
            const text = t('timeline.tip_outage', {
                site: site.name, from: formatTime(a, tz), to: formatTime(b, tz),
                duration: formatDuration(b - a),
            });
            track.append(segment('outage', a, b, `${site.site}:gap:${i}`, text, 5, 20));
        });
        intervals.forEach(([a, b], i) => {
            const open = r.live && b >= end;
            const text = t(open ? 'timeline.tip_connected_open' : 'timeline.tip_connected', {
                site: site.name, from: formatTime(a, tz), to: formatTime(b, tz),
                duration: formatDuration(b - a),
            });
            track.append(segment('bar', a, b, `${site.site}:bar:${i}`, text, 8, 14));
        });
        if (site.late && intervals.length) {
            const at = intervals[0][0];
            track.append(mark('late', at, `${site.site}:late`, t('timeline.tip_late', {
                site: site.name, time: formatTime(at, tz), after: formatSpan((at - start) / 1000),
            })));
        }
        if (site.left_early && intervals.length) {
            const at = intervals[intervals.length - 1][1];
            track.append(mark('early', at, `${site.site}:early`, t('timeline.tip_early', {
                site: site.name, time: formatTime(at, tz), before: formatSpan((end - at) / 1000),
            })));
        }
        grid.append(label, track);
    }

    /**
     * @param {string} kind 'bar' or 'outage'
     * @param {number} a
     * @param {number} b
     * @param {string} key
     * @param {string} text
     * @param {number} y
     * @param {number} height
     */
    function segment(kind, a, b, key, text, y, height) {
        const left = fraction(a, start, end) * 100;
        // At least a sliver, so that a short connection can still be seen and pointed at.
        const width = Math.max(fraction(b, start, end) * 100 - left, 0.25);
        const shape = svg('rect', {
            class: kind, x: `${left.toFixed(3)}%`, width: `${width.toFixed(3)}%`, y, height,
            tabindex: 0, role: 'img', 'aria-label': text,
        });
        shape.dataset.tip = text;
        shape.dataset.key = key;
        return shape;
    }

    /**
     * A flag above the track: a line down it and a triangle on top.
     * @param {'late'|'early'} kind
     * @param {number} at
     * @param {string} key
     * @param {string} text
     */
    function mark(kind, at, key, text) {
        const group = svg('g', {class: `mark mark-${kind}`, tabindex: 0, role: 'img', 'aria-label': text});
        group.dataset.tip = text;
        group.dataset.key = key;
        group.append(svg('line', {x1: x(at), x2: x(at), y1: 1, y2: 29}));
        const head = svg('svg', {x: x(at), y: 0, width: 1, height: 1, overflow: 'visible'});
        head.append(svg('path', {d: kind === 'late' ? 'M0 0 L8 0 L0 8 Z' : 'M0 0 L-8 0 L0 8 Z'}));
        group.append(head);
        return group;
    }

    if (!r.sites.length)
        grid.append(element('p', 'muted', t('report.no_sites')));
    $('timeline').replaceChildren(grid);
    if (focused) {
        const again = $('timeline').querySelector(`[data-key="${CSS.escape(focused)}"]`);
        if (again instanceof SVGElement)
            again.focus();
    }
}

/**
 * Shows the details of the bar, outage or flag under the pointer or focus.
 * @param {EventTarget|null} target
 * @param {PointerEvent|null} pointer
 */
function showTip(target, pointer) {
    const shape = target instanceof Element ? target.closest('[data-tip]') : null;
    if (!(shape instanceof SVGElement) || !shape.dataset.tip) {
        if (pointer)
            hideTip();
        return;
    }
    const tip = $('tip');
    setText(tip, shape.dataset.tip);
    tip.hidden = false;
    if (pointer) {
        moveTip(pointer);
    } else {
        const box = shape.getBoundingClientRect();
        placeTip(box.left + box.width / 2, box.bottom);
    }
}

/** @param {PointerEvent} event */
function moveTip(event) {
    if (!$('tip').hidden)
        placeTip(event.clientX, event.clientY + 14);
}

/**
 * Puts the tip below a point, kept inside the window.
 * @param {number} left
 * @param {number} top
 */
function placeTip(left, top) {
    const tip = $('tip');
    const width = tip.offsetWidth;
    const height = tip.offsetHeight;
    const x = Math.min(Math.max(8, left - width / 2), window.innerWidth - width - 8);
    const y = top + height + 8 > window.innerHeight ? top - height - 28 : top + 6;
    tip.style.left = `${Math.round(x)}px`;
    tip.style.top = `${Math.round(Math.max(8, y))}px`;
}

function hideTip() {
    $('tip').hidden = true;
}
