// @ts-check
/**
 * Where the camera count looks, and how it adds up what it saw: the whole picture, then a grid
 * of overlapping tiles (small faces at the back of a hall are too small for the detector in
 * the whole picture), and one face for each group of boxes that cover the same place. No DOM.
 */

/**
 * A rectangle in the picture's pixels.
 * @typedef {{x: number, y: number, width: number, height: number}} Rect
 */

/**
 * A face the detector found, in the picture's pixels, with its score (0 to 1).
 * @typedef {Rect & {score: number}} Face
 */

/**
 * The tiles of a picture: `cols` x `rows` of them, each overlapping its neighbours by
 * `overlap` of its own size, together covering the picture exactly.
 * @param {number} width
 * @param {number} height
 * @param {number} cols
 * @param {number} rows
 * @param {number} overlap 0 to below 1
 * @returns {Rect[]}
 */
export function tiles(width, height, cols, rows, overlap) {
    /** @type {Rect[]} */
    const found = [];
    if (cols < 1 || rows < 1)
        return found;
    const tileWidth = width / (cols - (cols - 1) * overlap);
    const tileHeight = height / (rows - (rows - 1) * overlap);
    for (let row = 0; row < rows; row++) {
        for (let col = 0; col < cols; col++) {
            found.push({
                x: Math.round(col * tileWidth * (1 - overlap)),
                y: Math.round(row * tileHeight * (1 - overlap)),
                width: Math.round(tileWidth),
                height: Math.round(tileHeight),
            });
        }
    }
    return found;
}

/**
 * How much of the smaller of two rectangles lies inside the other (0 to 1): a face cut by a
 * tile's edge is a small box inside the whole face's box, which the IoU would keep apart.
 * @param {Rect} a
 * @param {Rect} b
 */
export function overlapOfSmaller(a, b) {
    const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
    const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
    if (width <= 0 || height <= 0)
        return 0;
    const smaller = Math.min(a.width * a.height, b.width * b.height);
    return smaller > 0 ? (width * height) / smaller : 0;
}

/**
 * The faces once: the best-scored box of each group of boxes that overlap by at least
 * `sameFace` (of the smaller one).
 * @param {Face[]} faces
 * @param {number} sameFace
 * @returns {Face[]}
 */
export function mergeFaces(faces, sameFace) {
    /** @type {Face[]} */
    const kept = [];
    for (const face of [...faces].sort((a, b) => b.score - a.score)) {
        if (!kept.some(other => overlapOfSmaller(face, other) >= sameFace))
            kept.push(face);
    }
    return kept;
}

/**
 * Whether a face found in a tile touches one of the tile's edges inside the picture: the
 * detector saw part of a face there (and sometimes a shoulder as one). Its neighbour, which
 * overlaps it, or the whole picture, for a face too large for the overlap, sees it whole.
 * @param {Rect} face in the tile's pixels
 * @param {Rect} tile in the picture's pixels
 * @param {number} width the picture's
 * @param {number} height
 */
export function cutByTile(face, tile, width, height) {
    const margin = 2;
    return (tile.x > 0 && face.x <= margin)
        || (tile.y > 0 && face.y <= margin)
        || (tile.x + tile.width < width && face.x + face.width >= tile.width - margin)
        || (tile.y + tile.height < height && face.y + face.height >= tile.height - margin);
}
