// @ts-check
/**
 * Whether a picture is arriving: the count of frames decoded, sampled now and then; a picture
 * counts as arriving while that count grew recently. The same test for the console's floor, its
 * mosaic's tiles and a hall's floor. No DOM here.
 */

/** A picture counts as arriving while frames were decoded this recently, in ms. */
export const PICTURE_WINDOW = 3000;

export class PictureSampler {
    /** @param {number} [span] how recently frames must have been decoded, in ms */
    constructor(span = PICTURE_WINDOW) {
        /** @private */
        this.span = span;
        /** Frames decoded as last sampled. */
        this.frames = 0;
        /** When that count last grew (ms since the epoch), 0 if never. */
        this.pictureAt = 0;
    }

    /**
     * Takes a new count of the frames decoded over the connection so far.
     * @param {number} frames
     * @param {number} [now] ms since the epoch
     */
    sample(frames, now = Date.now()) {
        if (frames > this.frames)
            this.pictureAt = now;
        this.frames = frames;
    }

    /** Forgets what was sampled: a new connection counts from zero. */
    reset() {
        this.frames = 0;
        this.pictureAt = 0;
    }

    /**
     * @param {number} [now] ms since the epoch
     * @returns {boolean}
     */
    arriving(now = Date.now()) {
        return now - this.pictureAt < this.span;
    }
}
